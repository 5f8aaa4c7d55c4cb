/*
 * A capability written in plain C99 against capability.h, built into many
 * test variants by compile definitions:
 *   VARIANT_NAME        descriptor name (string)
 *   VARIANT_ABI_MAJOR   / VARIANT_ABI_MINOR   (default: this header's)
 *   VARIANT_DEPS        initializer of the dependency list, e.g. "a", "b",
 *   VARIANT_INIT        BANGER_OK | BANGER_ERROR | BANGER_SKIP
 *   VARIANT_NO_ENTRY    build without the entry point
 *   VARIANT_RESERVED    puts a pointer in the descriptor's first free reserved
 *                       slot (as a header of a later minor might)
 *   VARIANT_ABSURD_REPLY  registers verb "blob", whose reply is written with
 *                       a length no string can hold (built without unwind
 *                       tables: an exception thrown at it is fatal)
 * It records every hook call as a log line ("hook <name> <vm>") so tests can
 * see order, and checks the host table's version and size at init.
 */
#include <banger/capability.h>
#include <stdlib.h>
#include <string.h>

#ifndef VARIANT_ABI_MAJOR
#define VARIANT_ABI_MAJOR BANGER_ABI_MAJOR
#endif
#ifndef VARIANT_ABI_MINOR
#define VARIANT_ABI_MINOR BANGER_ABI_MINOR
#endif
#ifndef VARIANT_INIT
#define VARIANT_INIT BANGER_OK
#endif
#ifndef VARIANT_DEPS
#define VARIANT_DEPS
#endif

typedef struct variant_state {
  const banger_host* host;
} variant_state;

static void note(const variant_state* s, const char* hook, const char* vm) {
  char line[256];
  strcpy(line, "hook ");
  strncat(line, hook, 64);
  strcat(line, " ");
  strncat(line, vm ? vm : "-", 64);
  s->host->log(s->host, BANGER_LOG_INFO, line);
}

static int variant_init(const banger_host* host, void** self, banger_message* msg) {
  variant_state* s;
  if (host->abi_major != BANGER_ABI_MAJOR || !BANGER_HAS_FIELD(host, banger_host, verb_register)) {
    banger_message_set(msg, "host table too old");
    return BANGER_ERROR;
  }
  if (VARIANT_INIT == BANGER_ERROR) {
    banger_message_set(msg, "cannot open /dev/banger-test: no such device");
    return BANGER_ERROR;
  }
  if (VARIANT_INIT == BANGER_SKIP) {
    banger_message_set(msg, "needs a kernel feature this host lacks");
    return BANGER_SKIP;
  }
  s = (variant_state*)malloc(sizeof *s);
  if (s == NULL) return BANGER_ERROR;
  s->host = host;
  *self = s;
  note(s, "init", NULL);
#ifdef VARIANT_ABSURD_REPLY
  if (host->verb_register(host, "blob", "a reply no string can hold", msg) != BANGER_OK) {
    return BANGER_ERROR;
  }
#endif
  return BANGER_OK;
}

#ifdef VARIANT_ABSURD_REPLY
static int variant_query(void* self, const char* verb, const banger_vm* vm, const char* args,
                         const banger_writer* out, banger_message* msg) {
  (void)self;
  (void)verb;
  (void)vm;
  (void)args;
  (void)msg;
  out->write(out->ctx, "{", (size_t)-1);
  out->write(out->ctx, "}", 1);
  return BANGER_OK;
}
#endif

static int variant_prepare(void* self, const banger_vm* vm, banger_message* msg) {
  (void)msg;
  note((variant_state*)self, "prepare", vm->name);
  return BANGER_OK;
}

static int variant_cleanup(void* self, const banger_vm* vm, banger_message* msg) {
  (void)msg;
  note((variant_state*)self, "cleanup", vm->name);
  return BANGER_OK;
}

static void variant_shutdown(void* self) {
  variant_state* s = (variant_state*)self;
  note(s, "shutdown", NULL);
  free(s);
}

static const char* const variant_deps[] = {VARIANT_DEPS NULL};

/* Designated initializers: a later minor names a reserved slot without
 * breaking this source. */
static const banger_capability variant_descriptor = {
    .struct_size = sizeof(banger_capability),
    .abi_major = VARIANT_ABI_MAJOR,
    .abi_minor = VARIANT_ABI_MINOR,
    .name = VARIANT_NAME,
    .version = "0.1.0",
    .description = "test capability " VARIANT_NAME,
    .dependencies = variant_deps,
    .init = variant_init,
    .prepare = variant_prepare,
    .cleanup = variant_cleanup,
#ifdef VARIANT_ABSURD_REPLY
    .query = variant_query,
#endif
    .shutdown = variant_shutdown,
#ifdef VARIANT_RESERVED
    .reserved = {(void*)&variant_deps},
#endif
};

#ifndef VARIANT_NO_ENTRY
BANGER_EXPORT const banger_capability* banger_capability_entry(void) {
  return &variant_descriptor;
}
#else
/* Something exported, so the library is a valid ELF object with no entry. */
BANGER_EXPORT const banger_capability* not_the_entry(void) {
  return &variant_descriptor;
}
#endif
