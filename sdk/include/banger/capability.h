/*
 * banger capability ABI, version 1.
 *
 * A capability is a shared object that bangerd loads at start (dlopen with
 * RTLD_NOW | RTLD_LOCAL) and never unloads while the agent runs. It exports
 * exactly one C symbol, BANGER_ENTRY_SYMBOL, a function returning a pointer to
 * a constant descriptor (banger_capability). Everything that crosses the
 * boundary is plain C: fixed-layout structs, `const char*` (UTF-8, NUL
 * terminated), integers and function pointers. No C++ type, exception or RTTI
 * may cross it, in either direction: every function pointer either side
 * hands the other (hooks, services, banger_writer.write, visitors) must not
 * throw. The host's are noexcept and catch at the edge; the C++ helper's are
 * too (an exception in a callback of yours is rethrown in your frames once
 * the host returns). A hook that throws anyway is caught by the host and
 * reported as BANGER_ERROR.
 *
 * Versioning. Both the descriptor and the host services table start with
 * `struct_size`, `abi_major`, `abi_minor`. One rule decides which fields
 * exist: a field exists when the struct_size its producer declared covers it
 * (BANGER_HAS_FIELD), and a NULL hook or service is absent. Reserved slots
 * are zero (the host refuses a descriptor whose covered reserved slot is
 * not); a later minor may name one, since it reads as absent in every older
 * descriptor, or append. A capability's abi_minor is the oldest minor it
 * needs (the C++ helper works it out from the hooks it has; see
 * banger::Info::abi_minor); the host accepts it when the majors are equal and
 * that minor is <= the host's own, else refuses it naming both. A host's
 * abi_minor is the minor it implements. What is a minor change and what needs
 * a major: docs/PLUGINS.md, "Versioning".
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
 *   reserve, prepare, cleanup, query  run under the VM's lock: never two at once for
 *                      one VM (nor with that VM's start, stop or removal),
 *                      concurrently for different VMs, on any thread.
 *   tick               never concurrently with itself; concurrently with
 *                      any other hook (it holds no VM's lock).
 *   rediscover         on the thread of whoever asked handle_get for a
 *                      handle neither the cache nor the record holds, and
 *                      so possibly inside your own prepare, cleanup or
 *                      query for that VM (or another capability's): a lock
 *                      of yours held across handle_get is held in
 *                      rediscover too, so do not take it again there.
 * Every host service may be called from any thread. vm_request_stop from a
 * hook of the same VM answers BUSY (that VM's lock is held).
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

/* ABI version implemented by this header.
 *   1.0  the descriptor, hooks and host services table
 *   1.1  the rediscover hook (in the first reserved slot; same struct size),
 *        handle_set_many at the end of the host table
 *   1.2  abi_minor means the oldest minor a capability needs; reserved
 *        slots must be zero; banger_vm's vmm_uid, vmm_gid, cgroup dirs;
 *        handle limits; state_dir; per-VM options (validate_options,
 *        vm_option_get); handle_find; typed figures (banger_figure,
 *        figures_publish); commands (the command hook, command_register)
 *   1.3  the reserve hook (in the first reserved slot; same struct size):
 *        identities recorded with the start's own record, in one commit */
#define BANGER_ABI_MAJOR 1
#define BANGER_ABI_MINOR 3

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
/* What each code means where (docs/PLUGINS.md, "What a status means"):
 *   hook init        OK; ERROR: not used, nor its dependents; SKIP: not used,
 *                    not an error
 *   hook prepare     OK; else the start fails and is rolled back
 *   hook cleanup     OK; else the VM goes to error, reconcile retries
 *   hook query       OK; else the verb answers 409 with the message
 *   hook tick        OK; else logged, the next tick runs
 *   hook rediscover  OK; NOT_FOUND: no such object; TRUNCATED: did not fit
 *   hook validate_options  OK; else the create is refused (400)
 *   services         OK; ERROR; UNAVAILABLE (not backed here); NOT_FOUND (no
 *                    such VM/handle/option/key); INVALID (bad argument, or
 *                    not allowed here); TRUNCATED ("needs N bytes");
 *                    TIMEOUT (exec); BUSY (vm_request_stop)
 * A code either side does not know is treated as BANGER_ERROR. */

/* Handle limits (since 1.2, enforced by handle_set and handle_set_many with
 * BANGER_INVALID): a key is 1 to 64 bytes, a value at most 1024, without
 * the NUL. A buffer of BANGER_HANDLE_VALUE_MAX + 1 bytes holds any value. */
#define BANGER_HANDLE_KEY_MAX 64
#define BANGER_HANDLE_VALUE_MAX 1024

/* Per-VM option limits (since 1.2, checked by the host at create): a key,
 * without its "<capability>." prefix, is 1 to 64 of a-z 0-9 _ . -; a value
 * at most 1024 bytes without the NUL; at most 64 options per VM. */
#define BANGER_OPTION_KEY_MAX 64
#define BANGER_OPTION_VALUE_MAX 1024
#define BANGER_OPTIONS_MAX 64

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
  /* Since ABI 1.2 (an older host declares a smaller struct_size: check
   * BANGER_HAS_FIELD(vm, banger_vm, vmm_uid)): the uid and gid the VMM runs as
   * (0: not jailed, it runs as the agent's user), and the directories of its cgroup where its CPU
   * time (cpu.stat on cgroup v2, cpuacct.usage on v1) and memory use (memory.current,
   * memory.usage_in_bytes) are read ("" when not jailed). */
  uint32_t vmm_uid;
  uint32_t vmm_gid;
  const char* cgroup_cpu_dir;
  const char* cgroup_memory_dir;
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

/* Since ABI 1.2: what a figure is, as Prometheus types it. A counter only
 * goes up (restarting from 0 when its source restarts); a gauge goes up and
 * down. */
enum banger_figure_kind { BANGER_FIGURE_GAUGE = 0, BANGER_FIGURE_COUNTER = 1 };

/* Since ABI 1.2. One named number with its kind, unit and help, for
 * figures_publish. Passed in arrays, so its layout is fixed for good (a later
 * minor adds another struct and service): struct_size must be
 * sizeof(banger_figure), and banger_vm_figures' sizeof(banger_vm_figures),
 * else the host refuses the batch. The name is
 * [a-z][a-z0-9_]{0,62} in base units (Prometheus' naming): it ends with
 * "_<unit>" when it has a unit ("rx_bytes"), and a counter's ends with
 * "_total" after that ("rx_bytes_total"); the host checks both, and
 * refuses a unit that is not a base unit (seconds, bytes, ratio, celsius,
 * joules, meters, volts, amperes, grams, kelvin) or a name part that is a
 * scaled one ("ms", "minutes", "mib", "percent"). Exported as
 * banger_vm_<name>{vm="...",id="..."}. */
typedef struct banger_figure {
  uint32_t struct_size;
  uint32_t kind;    /* banger_figure_kind */
  const char* name; /* see above */
  double value;
  const char* unit; /* "bytes", "seconds", "ratio", ... or "" for a plain count */
  const char* help; /* one line for HELP; NULL or "": the host says the capability's name */
} banger_figure;

/* Since ABI 1.2. One VM's figures inside a figures_publish batch. */
typedef struct banger_vm_figures {
  uint32_t struct_size;
  const char* vm_id;
  const banger_figure* figures;
  size_t count;
} banger_vm_figures;

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
   *   durable record, then asks the owning capability's rediscover hook (if
   *   it has one). OK; NOT_FOUND when no source has a value: the object was
   *   never allocated (the message names the sources consulted); TRUNCATED
   *   when out_size is too small: out holds the start of the value and the
   *   message begins "needs N bytes" (BANGER_HANDLE_VALUE_MAX + 1 always
   *   suffices); UNAVAILABLE.
   * handle_set: records the caller's own `key` = `value`; committed before it
   *   returns (see handle_set_many for the durability), so create the kernel
   *   object only after OK. (Since 1.3: inside reserve, and inside a cleanup
   *   during a stop, the host holds the VM's handle writes - handle_get sees
   *   them at once - and commits them with the start's "starting" or the
   *   stop's "stopped" record.)
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
   * transaction. Each VM's named numbers are merged into its figures (other
   * capabilities' names stay); a VM listed twice counts once (its first
   * entry); a VM that no longer exists is skipped. Every vm_id and name must
   * be non-NULL (else INVALID, and nothing is written). The strings are read
   * during the call only. */
  int (*stats_publish)(const banger_host* host, const banger_vm_stats* batch, size_t count,
                       banger_message* msg);

  /* Registers a control verb (`bangerctl vm VERB NAME`, POST
   * /v1/vms/{ref}/VERB) answered by this capability's query hook. Allowed only
   * during init. A verb is 1 to 32 of a-z 0-9 -, one namespace for every
   * capability, and not one the agent keeps (create, start, stop, kill, rm,
   * remove, ls, list, show, touch, logs, ops). INVALID for a malformed,
   * reserved or already registered verb (the message names its owner). */
  int (*verb_register)(const banger_host* host, const char* verb, const char* summary,
                       banger_message* msg);

  /* Since ABI 1.1 (check BANGER_HAS_FIELD(host, banger_host, handle_set_many)).
   * Records `count` of the caller's keys at once, in one commit: all or none.
   * Same contract as handle_set. Durability of every handle write: it
   * survives the agent's death at any instant; a crash of the whole host may
   * undo the latest handle writes, as it undoes the kernel objects they
   * describe. */
  int (*handle_set_many)(const banger_host* host, const char* vm_id, const char* const* keys,
                         const char* const* values, size_t count, banger_message* msg);

  /* Since ABI 1.2 (check BANGER_HAS_FIELD(host, banger_host, state_dir)). A
   * directory of this capability's own, <state_dir>/capabilities/<name>,
   * mode 0700, made by the host before init: keep files there, never under
   * /tmp. It lasts across agent restarts; the host never empties it. ""
   * when the host has none (a host without a state dir, as in tests). */
  const char* state_dir;

  /* Since ABI 1.2. The value of this capability's per-VM option `key`
   * (without the "<name>." prefix) for VM vm_id, into out[out_size]. OK;
   * NOT_FOUND when the user did not set it (use your default) or there is no
   * such VM; TRUNCATED (BANGER_OPTION_VALUE_MAX + 1 always suffices). Options
   * are fixed at create: a value read once holds for the VM's life. */
  int (*vm_option_get)(const banger_host* host, const char* vm_id, const char* key, char* out,
                       size_t out_size, banger_message* msg);

  /* Since ABI 1.2. handle_get without its last resort: the host's cache and
   * the VM's record only, never a rediscover hook, never a write. For verbs
   * and ticks that only want to show or check what is recorded. Same
   * arguments and statuses as handle_get. */
  int (*handle_find)(const banger_host* host, const char* vm_id, const char* capability,
                     const char* key, char* out, size_t out_size, banger_message* msg);

  /* Since ABI 1.2. stats_publish with typed figures (banger_figure): the
   * same batch, merge and durability rules, and each name's kind, unit and
   * help are what the metrics exposition types it with. INVALID, and
   * nothing written, for a name that breaks the naming rules above or
   * changes kind. stats_publish's untyped figures are exported as gauges. */
  int (*figures_publish)(const banger_host* host, const banger_vm_figures* batch, size_t count,
                         banger_message* msg);

  /* Since ABI 1.2. Registers a capability-wide command answered by the
   * command hook. Allowed only during init. A command's name is 1 to 32 of
   * a-z 0-9 -; it lives under the capability's name, so any capability may
   * use any name (VM verbs share one namespace: see verb_register). INVALID
   * for a malformed or already registered command. */
  int (*command_register)(const banger_host* host, const char* verb, const char* summary,
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
  uint16_t abi_minor;   /* the oldest minor this capability needs (see Versioning) */

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
   * identity with handle_set *before* creating it (or in reserve, below);
   * contribute VMM config. ERROR aborts the start; the host then calls
   * cleanup for this capability (it may have created part of its objects),
   * the ones before it, and every capability whose reserve ran. */
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

  /* Since ABI 1.1. Optional. Finds handle `key` of this capability for `vm`
   * when neither the host's handle cache nor the VM's record holds it (the
   * agent died between creating an object and recording it, or the record
   * lost it): look for the object itself (e.g. a device named after the VM)
   * and write its identity into out[out_size]. OK: the host records the value
   * and hands it to whoever asked (typically cleanup); NOT_FOUND: there is no
   * such object. Must not create anything. */
  int (*rediscover)(void* self, const banger_vm* vm, const char* key, char* out, size_t out_size,
                    banger_message* msg);

  /* Since ABI 1.3 (in what was the first reserved slot). Optional. A VM is
   * about to start, and nothing is recorded of the start yet: choose the
   * identities of what prepare will create (a slot, a name, an address) and
   * record them with handle_set / handle_set_many; create nothing. The host
   * commits the handles every capability set here together with the VM's
   * "starting" record, in one transaction, before the first prepare runs: a
   * start whose capabilities all reserve pays one commit for all of their
   * identities, and prepare then records nothing. Called in dependency order
   * (a dependency's reserved handles are readable with handle_get), with
   * the view of the VM as it will be recorded (state "starting", its paths,
   * vsock CID and VMM uid). Until that commit, handle_get of a handle set
   * here answers from the host's cache. ERROR aborts the start: cleanup is
   * then called for every capability whose reserve ran (release what you
   * hold in memory; it finds its handles as usual, the reserved ones too:
   * they are held until the cleanup returns, then dropped, as they are when
   * the commit failed). A capability without this hook records its
   * identities in prepare as before. */
  int (*reserve)(void* self, const banger_vm* vm, banger_message* msg);

  void* reserved[6]; /* zero; for hooks of later minors */

  /* Since ABI 1.2. Optional. Checks the per-VM options a user gave this
   * capability at create (`bangerctl vm create --opt NAME.KEY=VALUE`; keys
   * here without the "NAME." prefix), before the VM is recorded: a typo is
   * refused at create, not at start. OK accepts them all; any other status
   * refuses the create with the message (say which option, and what it
   * takes). Called only when the user gave this capability options; a
   * capability without this hook takes none (the host refuses them). Runs
   * under no VM's lock (the VM does not exist yet), concurrently with any
   * hook; must not create anything. */
  int (*validate_options)(void* self, const char* const* keys, const char* const* values,
                          size_t count, banger_message* msg);

  /* Since ABI 1.2. Optional. Answers a capability-wide command registered
   * with command_register (`bangerctl caps NAME VERB`, POST
   * /v1/capabilities/NAME/VERB): about the capability, not one VM (a hosts
   * list, a pool's state). args_json is the request's JSON object ("{}"
   * when none); write the reply (a JSON value) to `out`. Runs under no VM's
   * lock, concurrently with any hook and with itself. */
  int (*command)(void* self, const char* verb, const char* args_json, const banger_writer* out,
                 banger_message* msg);
} banger_capability;

/* The entry point every capability defines (exported, C linkage). */
typedef const banger_capability* (*banger_capability_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BANGER_CAPABILITY_H_ */
