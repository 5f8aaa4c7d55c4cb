/* hello-c: the hello capability in plain C99, against capability.h only.
 * Registers verb "hello-c" (`bangerctl vm hello-c NAME`), answered with a
 * greeting from [hello-c] greeting. Build without CMake:
 *   cc -std=c99 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags banger-sdk) \
 *      hello.c -o hello-c.so $(pkg-config --variable=capability_ldflags banger-sdk)
 */
#include <banger/capability.h>
#include <stdlib.h>
#include <string.h>

typedef struct hello_state {
  const banger_host* host;
  const char* greeting; /* the host's string: valid until shutdown */
} hello_state;

static int hello_init(const banger_host* host, void** self, banger_message* msg) {
  hello_state* s = (hello_state*)calloc(1, sizeof *s);
  if (s == NULL) {
    banger_message_set(msg, "out of memory");
    return BANGER_ERROR;
  }
  s->host = host;
  if (host->config_get(host, "greeting", &s->greeting) != BANGER_OK) s->greeting = "hello";
  if (host->verb_register(host, "hello-c", "greet a VM, from C", msg) != BANGER_OK) {
    free(s);
    return BANGER_ERROR;
  }
  *self = s;
  return BANGER_OK;
}

/* Writes `text` as a JSON string: quotes, backslashes and control bytes escaped. */
static void write_json_string(const banger_writer* out, const char* text) {
  out->write(out->ctx, "\"", 1);
  for (const char* p = text; *p; ++p) {
    char esc[8];
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      out->write(out->ctx, esc, 2);
    } else if (c < 0x20) {
      static const char hex[] = "0123456789abcdef";
      memcpy(esc, "\\u00", 4);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      out->write(out->ctx, esc, 6);
    } else {
      out->write(out->ctx, p, 1);
    }
  }
  out->write(out->ctx, "\"", 1);
}

static int hello_query(void* self, const char* verb, const banger_vm* vm, const char* args,
                       const banger_writer* out, banger_message* msg) {
  hello_state* s = (hello_state*)self;
  (void)verb;
  (void)args;
  (void)msg;
  out->write(out->ctx, "{\"greeting\":", 12);
  write_json_string(out, s->greeting);
  out->write(out->ctx, ",\"vm\":", 6);
  write_json_string(out, vm->name);
  out->write(out->ctx, "}", 1);
  return BANGER_OK;
}

static void hello_shutdown(void* self) {
  free(self);
}

static const banger_config_key hello_keys[] = {
    {"greeting", "hello", "what the hello-c verb answers with"},
    {NULL, NULL, NULL},
};

static const banger_capability hello_descriptor = {
    .struct_size = sizeof(banger_capability),
    .abi_major = BANGER_ABI_MAJOR,
    .abi_minor = 0, /* the oldest minor it needs: nothing past 1.0 */
    .name = "hello-c",
    .version = "1.0.0",
    .description = "answers the hello-c verb (C99)",
    .config_keys = hello_keys,
    .init = hello_init,
    .query = hello_query,
    .shutdown = hello_shutdown,
};

BANGER_EXPORT const banger_capability* banger_capability_entry(void) {
  return &hello_descriptor;
}
