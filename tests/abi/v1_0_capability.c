/* "abi-v1-0": a capability written against the frozen ABI 1.0 header
 * (tests/abi/v1.0/banger/capability.h, as released) and built against it, so
 * the agent of today is held to loading and serving what 1.0 promised. The
 * same source is built against the current header (abi-current) and the two
 * are compared with abidiff (tests/abi/abidiff_check.sh). Only 1.0's hooks
 * and services: init (registers verb "abi10"), prepare, cleanup, query,
 * shutdown; each logs "hook <name> <vm>". */
#include <banger/capability.h>
#include <stdlib.h>
#include <string.h>

typedef struct abi10_state {
  const banger_host* host;
  unsigned prepared;
} abi10_state;

static void note(const abi10_state* s, const char* hook, const char* vm) {
  char line[160];
  strcpy(line, "hook ");
  strncat(line, hook, 32);
  strcat(line, " ");
  strncat(line, vm ? vm : "-", 100);
  s->host->log(s->host, BANGER_LOG_INFO, line);
}

static int abi10_init(const banger_host* host, void** self, banger_message* msg) {
  abi10_state* s;
  if (host->abi_major != 1 || !BANGER_HAS_FIELD(host, banger_host, verb_register)) {
    banger_message_set(msg, "host table too old for ABI 1.0");
    return BANGER_ERROR;
  }
  s = (abi10_state*)calloc(1, sizeof *s);
  if (s == NULL) return BANGER_ERROR;
  s->host = host;
  *self = s;
  if (host->verb_register(host, "abi10", "what a 1.0 capability says", msg) != BANGER_OK) {
    free(s);
    return BANGER_ERROR;
  }
  note(s, "init", NULL);
  return BANGER_OK;
}

static int abi10_prepare(void* self, const banger_vm* vm, banger_message* msg) {
  abi10_state* s = (abi10_state*)self;
  int rc = s->host->handle_set(s->host, vm->id, "marker", "from-1.0", msg);
  if (rc != BANGER_OK) return rc;
  s->prepared++;
  note(s, "prepare", vm->name);
  return BANGER_OK;
}

static int abi10_cleanup(void* self, const banger_vm* vm, banger_message* msg) {
  abi10_state* s = (abi10_state*)self;
  char value[64];
  int rc = s->host->handle_get(s->host, vm->id, NULL, "marker", value, sizeof value, msg);
  if (rc == BANGER_NOT_FOUND) return BANGER_OK;
  if (rc != BANGER_OK) return rc;
  note(s, "cleanup", vm->name);
  return s->host->handle_clear(s->host, vm->id, NULL, msg);
}

static int abi10_query(void* self, const char* verb, const banger_vm* vm, const char* args,
                       const banger_writer* out, banger_message* msg) {
  abi10_state* s = (abi10_state*)self;
  char reply[200];
  (void)args;
  (void)msg;
  strcpy(reply, "{\"verb\":\"");
  strncat(reply, verb, 16);
  strcat(reply, "\",\"vm\":\"");
  strncat(reply, vm->name, 64);
  strcat(reply, s->prepared ? "\",\"prepared\":true}" : "\",\"prepared\":false}");
  out->write(out->ctx, reply, strlen(reply));
  return BANGER_OK;
}

static void abi10_shutdown(void* self) {
  abi10_state* s = (abi10_state*)self;
  note(s, "shutdown", NULL);
  free(s);
}

static const banger_capability abi10_descriptor = {
    .struct_size = sizeof(banger_capability),
    .abi_major = BANGER_ABI_MAJOR,
    .abi_minor = BANGER_ABI_MINOR,
    .name = "abi-v1-0",
    .version = "1.0.0",
    .description = "built against the ABI 1.0 header",
    .init = abi10_init,
    .prepare = abi10_prepare,
    .cleanup = abi10_cleanup,
    .query = abi10_query,
    .shutdown = abi10_shutdown,
};

BANGER_EXPORT const banger_capability* banger_capability_entry(void) {
  return &abi10_descriptor;
}
