/*
 * banger capability ABI, version 1.
 *
 * A capability is a shared object that bangerd loads at start (dlopen with
 * RTLD_NOW | RTLD_LOCAL) and never unloads while the agent runs. It exports
 * exactly one C symbol, BANGER_ENTRY_SYMBOL, a function returning a pointer to
 * a constant descriptor (banger_capability). Everything that crosses the
 * boundary is plain C: fixed-layout structs, `const char*` (UTF-8, NUL
 * terminated), integers and function pointers. No C++ type, exception or RTTI
 * may cross it; the host catches anything thrown at it anyway and treats it as
 * BANGER_ERROR.
 *
 * Versioning. Both the descriptor and the host services table start with
 * `struct_size`, `abi_major`, `abi_minor`. The host accepts a plugin when the
 * majors are equal and the plugin's minor is <= the host's minor; otherwise it
 * refuses the plugin with a message naming both versions. Structs only grow
 * at the end (append-only); a field is read only when the struct_size that the
 * other side declared covers it (see BANGER_HAS_FIELD).
 *
 * Strings and lifetimes. Every string the host hands to a plugin is owned by
 * the host and valid for the duration of the call it was passed to, unless a
 * function says otherwise. Every string in a descriptor must stay valid for as
 * long as the library is loaded (string literals are the usual choice).
 *
 * Messages. Hooks and services report an integer status and, on anything but
 * BANGER_OK, write a one-line human-readable reason into a host- or
 * caller-owned banger_message buffer (truncated to fit, always NUL
 * terminated). banger_message_set() is the easy way to fill one.
 *
 * Threading. init runs first and alone; shutdown runs last and alone.
 * prepare, cleanup and query may be called concurrently from different threads
 * for different VMs, never concurrently for the same VM. tick is never called
 * concurrently with itself. Every host service may be called from any thread.
 */
#ifndef BANGER_CAPABILITY_H_
#define BANGER_CAPABILITY_H_

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version implemented by this header. */
#define BANGER_ABI_MAJOR 1
#define BANGER_ABI_MINOR 0

/* The one symbol a capability exports: `const banger_capability* NAME(void)`. */
#define BANGER_ENTRY_SYMBOL "banger_capability_entry"

#if defined(__GNUC__)
#define BANGER_EXPORT __attribute__((visibility("default")))
#else
#define BANGER_EXPORT
#endif

/* True when a struct whose first member is `uint32_t struct_size` was
 * declared large enough by its producer to contain FIELD. */
#define BANGER_HAS_FIELD(ptr, type, field) \
  ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type*)0)->field))

/* ---------------------------------------------------------------------------
 * Status codes, returned by every hook and every host service.
 * ------------------------------------------------------------------------- */
enum banger_status_code {
  BANGER_OK = 0,          /* done */
  BANGER_ERROR = 1,       /* failed; the message says why */
  BANGER_SKIP = 2,        /* hook: nothing to do / cannot run on this host.
                             From init: the capability stays loaded but is
                             not used, shown as "skip: <message>". */
  BANGER_UNAVAILABLE = 3, /* service: this host does not back it (yet) */
  BANGER_NOT_FOUND = 4,   /* service: no such VM / key / value */
  BANGER_INVALID = 5,     /* service: an argument was malformed or the call
                             is not allowed at this point */
  BANGER_TRUNCATED = 6,   /* service: the output buffer was too small; the
                             value was truncated (still NUL terminated) */
  BANGER_TIMEOUT = 7,     /* service: a deadline passed */
  BANGER_BUSY = 8         /* service: the VM is in another operation */
};

/* Log levels for banger_host.log. */
enum banger_log_level {
  BANGER_LOG_DEBUG = 0,
  BANGER_LOG_INFO = 1,
  BANGER_LOG_WARN = 2,
  BANGER_LOG_ERROR = 3
};

/* A message buffer owned by the caller of a hook or service. `text` holds
 * `size` bytes (size >= 1); write at most size-1 characters plus a NUL. */
typedef struct banger_message {
  char* text;
  size_t size;
} banger_message;

/* printf-style fill of a message buffer; tolerates NULL. */
static inline void banger_message_set(banger_message* msg, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static inline void banger_message_set(banger_message* msg, const char* fmt, ...) {
  va_list ap;
  if (msg == NULL || msg->text == NULL || msg->size == 0) return;
  va_start(ap, fmt);
  vsnprintf(msg->text, msg->size, fmt, ap);
  va_end(ap);
}

/* A byte sink owned by the host: `write` appends `len` bytes. */
typedef struct banger_writer {
  void* ctx;
  void (*write)(void* ctx, const char* data, size_t len);
} banger_writer;

/* ---------------------------------------------------------------------------
 * The VM view: what a capability sees of one VM. Owned by the host, valid for
 * the duration of the call it was passed to. Strings are never NULL; a value
 * the VM does not have yet is "" (or 0 for numbers).
 * ------------------------------------------------------------------------- */
typedef struct banger_vm {
  uint32_t struct_size;
  const char* id;             /* 32 lowercase hex characters */
  const char* name;           /* [a-z0-9][a-z0-9-]{0,62} */
  const char* state;          /* created|starting|running|stopping|stopped|error */
  const char* api_socket;     /* Firecracker API socket path */
  const char* vsock_path;     /* hybrid vsock UNIX socket path */
  const char* metrics_path;   /* Firecracker metrics file */
  const char* log_path;       /* VMM stdout/stderr log */
  const char* overlay_path;   /* system disk (copy-on-write overlay) */
  const char* work_disk_path; /* work disk */
  int64_t pid;                /* VMM pid, 0 when not running */
  uint64_t pid_start_time;    /* /proc/PID/stat field 22, in clock ticks */
  uint32_t vsock_cid;
  uint32_t vcpus;
  uint64_t memory_mib;
  int64_t created_at_ms;      /* Unix epoch milliseconds */
  int64_t last_touched_at_ms; /* Unix epoch milliseconds */
} banger_vm;

/* A network interface contributed to the VMM configuration (Firecracker's
 * PUT /network-interfaces/{iface_id}). */
typedef struct banger_net_iface {
  uint32_t struct_size;
  const char* iface_id;      /* e.g. "eth0" */
  const char* host_dev_name; /* TAP device name on the host */
  const char* guest_mac;     /* "aa:bb:cc:dd:ee:ff" or "" to let the VMM pick */
} banger_net_iface;

/* One named number published for a VM (e.g. "rss_bytes"). */
typedef struct banger_stat {
  const char* name;
  double value;
} banger_stat;

/* The samples of one VM inside a stats_publish batch. */
typedef struct banger_vm_stats {
  const char* vm_id;
  const banger_stat* stats;
  size_t count;
} banger_vm_stats;

/* How an exec'd process ended. */
typedef struct banger_exec_result {
  uint32_t struct_size;
  int exit_code;   /* exit status when it exited, else -1 */
  int term_signal; /* signal that ended it, else 0 */
  int timed_out;   /* 1 when the host killed it at the deadline */
} banger_exec_result;

/* ---------------------------------------------------------------------------
 * Host services: the table handed to init. One table per capability (`ctx`
 * identifies the caller to the host). It stays valid until shutdown returns;
 * the capability may keep the pointer. A service that this host cannot back
 * returns BANGER_UNAVAILABLE with a message saying so; it never pretends.
 * ------------------------------------------------------------------------- */
typedef struct banger_host banger_host;

typedef void (*banger_vm_visitor)(void* user, const banger_vm* vm);
typedef void (*banger_config_visitor)(void* user, const char* key, const char* value);

struct banger_host {
  uint32_t struct_size;
  uint16_t abi_major;
  uint16_t abi_minor;
  void* ctx; /* host-private; pass the table, never this, back to services */

  /* Writes one log line, attributed to this capability. Never fails. */
  void (*log)(const banger_host* host, int level, const char* text);

  /* Configuration: the key/values of this capability's own config section
   * ([name] in bangerd.conf), immutable while the agent runs.
   * config_get: *value receives a host-owned string valid until shutdown.
   *   OK, or NOT_FOUND when the key is not set (use your default). */
  int (*config_get)(const banger_host* host, const char* key, const char** value);
  /* Calls visit(user, key, value) for every key of the section, in file order. */
  int (*config_each)(const banger_host* host, banger_config_visitor visit, void* user);

  /* Per-VM handles: the durable identity of what a capability created for a
   * VM (a tap name, a guest IP). Keys and values are short strings.
   * handle_get: reads `key` of `capability` (NULL: the caller's own) for VM
   *   `vm_id` into out[out_size]. Looks in the host's cache, then the VM's
   *   durable record. OK; NOT_FOUND when no source has a value (the message
   *   says which sources were consulted); TRUNCATED; UNAVAILABLE.
   * handle_set: records the caller's own `key` = `value`; durable (committed)
   *   before it returns, so create the kernel object only after OK.
   * handle_clear: forgets the caller's `key` (NULL: all of the caller's keys
   *   for the VM); call it only after the object is gone. Clearing what is
   *   not set is OK. */
  int (*handle_get)(const banger_host* host, const char* vm_id, const char* capability,
                    const char* key, char* out, size_t out_size, banger_message* msg);
  int (*handle_set)(const banger_host* host, const char* vm_id, const char* key, const char* value,
                    banger_message* msg);
  int (*handle_clear)(const banger_host* host, const char* vm_id, const char* key,
                      banger_message* msg);

  /* Runs argv[0] (looked up in PATH) with argv, a NULL-terminated vector, and
   * no shell; stdin is /dev/null. stdout and stderr together go to `output`
   * (may be NULL to discard). After timeout_ms the process is killed
   * (SIGKILL) and result->timed_out is set. Returns OK when the process was
   * started and reaped (inspect *result for how it ended), ERROR when it could
   * not be started, TIMEOUT when it was killed at the deadline. */
  int (*exec)(const banger_host* host, const char* const* argv, uint32_t timeout_ms,
              const banger_writer* output, banger_exec_result* result, banger_message* msg);

  /* VMs. vm_get resolves `ref` (id, unique id prefix or name) and calls
   * visit once with a view valid during the callback. NOT_FOUND, INVALID when
   * the ref is ambiguous. vm_list calls visit for every VM. */
  int (*vm_get)(const banger_host* host, const char* ref, banger_vm_visitor visit, void* user,
                banger_message* msg);
  int (*vm_list)(const banger_host* host, banger_vm_visitor visit, void* user, banger_message* msg);

  /* VMM configuration contributions; allowed only inside this capability's
   * prepare hook for that same VM (INVALID otherwise). */
  int (*vmm_add_network_interface)(const banger_host* host, const char* vm_id,
                                   const banger_net_iface* iface, banger_message* msg);
  int (*vmm_append_boot_args)(const banger_host* host, const char* vm_id, const char* args,
                              banger_message* msg);

  /* Stops a VM the way `bangerctl vm stop` does (escalating stop, full
   * cleanup), synchronously. BUSY when the VM is in another operation (try
   * again later); `reason` is recorded with the stop. */
  int (*vm_request_stop)(const banger_host* host, const char* vm_id, const char* reason,
                         banger_message* msg);

  /* Publishes samples for several VMs at once; written in one store
   * transaction. */
  int (*stats_publish)(const banger_host* host, const banger_vm_stats* batch, size_t count,
                       banger_message* msg);

  /* Registers a control verb (`bangerctl vm VERB NAME`, POST
   * /v1/vms/{ref}/VERB) answered by this capability's query hook. Allowed only
   * during init. INVALID for a malformed or already registered verb. */
  int (*verb_register)(const banger_host* host, const char* verb, const char* summary,
                       banger_message* msg);
};

/* ---------------------------------------------------------------------------
 * The descriptor.
 * ------------------------------------------------------------------------- */

/* A documented configuration key. Arrays end with an entry whose key is NULL. */
typedef struct banger_config_key {
  const char* key;
  const char* default_value; /* as the user would write it; "" for none */
  const char* description;   /* one line */
} banger_config_key;

typedef struct banger_capability {
  uint32_t struct_size; /* sizeof(banger_capability) as compiled */
  uint16_t abi_major;   /* BANGER_ABI_MAJOR as compiled */
  uint16_t abi_minor;   /* BANGER_ABI_MINOR as compiled */

  const char* name;        /* unique, [a-z0-9][a-z0-9_-]{0,31} */
  const char* version;     /* the capability's own version, e.g. "1.2.0" */
  const char* description; /* one line */
  /* What this capability requires: names of capabilities that must be
   * initialised before it and prepared before it for each VM (cleaned up
   * after it). NULL-terminated; NULL for none. (Not called `requires`: that
   * is a keyword in C++20.) */
  const char* const* dependencies;
  /* Keys this capability reads from its config section. When non-NULL, a key
   * in the section that is not listed is a configuration error. */
  const banger_config_key* config_keys;

  /* Required. Called once, before any other hook. `host` stays valid until
   * shutdown returns. Store per-instance state in *self; it is passed to
   * every other hook. OK, ERROR (the capability is not used; dependents
   * neither), or SKIP (cannot run on this host; not used, not an error). */
  int (*init)(const banger_host* host, void** self, banger_message* msg);

  /* Optional. A VM is starting: create what it needs, recording each object's
   * identity with handle_set *before* creating it; contribute VMM config.
   * ERROR aborts the start; the host then calls cleanup for this capability
   * (it may have created part of its objects) and the ones before it. */
  int (*prepare)(void* self, const banger_vm* vm, banger_message* msg);

  /* Optional. A VM stopped, was killed, failed to start or was found dead:
   * remove what prepare created. Must be idempotent; an object already gone
   * is OK. Find identity with handle_get (NOT_FOUND everywhere means it was
   * never allocated: return OK). Called even when other cleanups failed. */
  int (*cleanup)(void* self, const banger_vm* vm, banger_message* msg);

  /* Optional. Background work every tick_interval_ms (0: never). */
  int (*tick)(void* self, int64_t now_unix_ms, banger_message* msg);
  uint32_t tick_interval_ms;

  /* Optional. Answers a verb registered with verb_register for `vm`;
   * args_json is the request's JSON object ("{}" when none). Write the reply
   * (a JSON value) to `out`. */
  int (*query)(void* self, const char* verb, const banger_vm* vm, const char* args_json,
               const banger_writer* out, banger_message* msg);

  /* Optional. Called once at agent shutdown, in reverse load order; release
   * everything held in self. No other hook runs after it. */
  void (*shutdown)(void* self);

  void* reserved[8]; /* zero; for hooks of later minors */
} banger_capability;

/* The entry point every capability defines (exported, C linkage). */
typedef const banger_capability* (*banger_capability_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BANGER_CAPABILITY_H_ */
