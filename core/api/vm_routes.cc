#include "core/api/vm_routes.h"

#include "core/api/console_log.h"
#include "core/api/json_text.h"
#include "core/api/vm_json.h"
#include "core/vmm/vmm_process.h"

#include "core/base/clock.h"

#include <sys/statvfs.h>
#include <sys/sysinfo.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/lifecycle/vm_view.h"
#include "core/plugin_host/plugin_selection.h"

namespace banger::core {

using nlohmann::json;

int HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kConflict:
    case StatusCode::kBusy:
    case StatusCode::kCorrupt:  // the request is fine; the VM's record is not
      return 409;
    case StatusCode::kDenied:
      return 403;
    case StatusCode::kInvalid:
      return 400;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kError:
      return 500;
  }
  return 500;
}

namespace {

// A VM's record with its latest figures (from the store's stats table), as
// a reply's body.
HttpResponse VmReply(int status, const VmStore& store, const VmRecord& r) {
  return JsonResponse(status, VmJsonText(r, store.Stats(r.id).get()) + "\n");
}

json StageJson(const OperationStage& s) {
  json j{{"event", "stage"}, {"stage", s.name}, {"ms", s.ms}, {"error", s.error}};
  if (!s.detail.empty()) j["detail"] = s.detail;
  return j;
}

HttpResponse Ok(int status, const json& j) {
  return JsonResponse(status, j.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

HttpResponse Fail(const Status& s) {
  return ErrorResponse(HttpStatusFor(s), s.message());
}

// A yes/no query parameter: absent is false; 1/true/yes and 0/false/no;
// anything else is the client's mistake, not a guess.
Result<bool> QueryFlag(const HttpRequest& req, const std::string& name) {
  auto it = req.query.find(name);
  if (it == req.query.end()) return false;
  const std::string& v = it->second;
  if (v == "" || v == "1" || v == "true" || v == "yes") return true;
  if (v == "0" || v == "false" || v == "no") return false;
  return Status::Invalid("?" + name + "=" + v + ": use 1 or 0 (true or false)");
}

// Runs a lifecycle call either plainly (one JSON reply) or streamed (NDJSON
// stage events as they complete, then the result).
HttpResponse RunLifecycle(const HttpRequest& req, const VmStore& store,
                          std::function<Result<VmRecordPtr>(const StageObserver&)> call) {
  auto stream = QueryFlag(req, "stream");
  if (!stream) return Fail(stream.status());
  if (*stream) {
    // Streamed answers commit to 200 at once: a VM that does not exist (or
    // cannot be read) is answered with its own status first.
    if (auto vm = store.Resolve(req.params.at("ref")); !vm) {
      return Fail(vm.status().Prefixed(req.params.at("action") + " " + req.params.at("ref")));
    }
  }
  if (!*stream) {
    auto r = call({});
    return r ? VmReply(200, store, **r) : Fail(r.status());
  }
  HttpResponse res;
  res.content_type = "application/x-ndjson";
  res.stream = [&store, call = std::move(call)](const HttpResponse::Emit& emit) {
    auto r = call([&](const OperationStage& s) { emit(StageJson(s).dump() + "\n"); });
    if (r) {
      emit("{\"event\":\"result\",\"vm\":" + VmJsonText(**r, store.Stats((*r)->id).get()) + "}\n");
      return;
    }
    emit(json{{"event", "error"},
              {"error", r.status().message()},
              {"status", HttpStatusFor(r.status())}}
             .dump() +
         "\n");
  };
  return res;
}

// ---- validation at the edge: every field of a create, one place ----

// Firecracker's x86_64 kernel command line holds 2048 bytes; capabilities
// append to the spec's (tap's ip= is ~60), so the spec may use 1536.
constexpr size_t kMaxBootArgs = 1536;
constexpr size_t kMaxPath = 4095;  // PATH_MAX less its NUL

uint64_t HostMemoryMib() {
  struct sysinfo si {};
  if (::sysinfo(&si) != 0) return 1u << 20;
  return static_cast<uint64_t>(si.totalram) * si.mem_unit >> 20;
}

// A string field: no NUL (JSON may carry one as \u0000), within `max` bytes.
// (nlohmann's parser already refused text that is not UTF-8.)
Status CheckText(const char* field, const std::string& value, size_t max) {
  if (value.find('\0') != std::string::npos) {
    return Status::Invalid(std::string("create: '") + field + "' must not contain a NUL byte");
  }
  if (value.size() > max) {
    return Status::Invalid(std::string("create: '") + field + "' is " +
                           std::to_string(value.size()) + " bytes; at most " + std::to_string(max));
  }
  return Status::Ok();
}

// A whole number in [min, max], said in the error with its unit.
Status CheckNumber(const json& j, const char* field, uint64_t min, uint64_t max, const char* unit,
                   uint64_t& out) {
  const json& v = j.at(field);
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
    return Status::Invalid(std::string("create: '") + field + "' must be a whole number from " +
                           std::to_string(min) + " to " + std::to_string(max) + unit);
  }
  uint64_t n = v.get<uint64_t>();
  if (n < min || n > max) {
    return Status::Invalid(std::string("create: '") + field + "' must be from " +
                           std::to_string(min) + " to " + std::to_string(max) + unit + ", not " +
                           std::to_string(n));
  }
  out = n;
  return Status::Ok();
}

// "options": {"<capability>.<key>": "<value>", ...}, each checked for shape
// here; what a key means is its capability's to judge (at create).
Status ParseOptions(const json& j, VmOptions& out) {
  if (!j.is_object()) {
    return Status::Invalid(
        "create: 'options' must be an object of \"<capability>.<key>\": \"<value>\"");
  }
  if (j.size() > BANGER_OPTIONS_MAX) {
    return Status::Invalid("create: " + std::to_string(j.size()) + " options; at most " +
                           std::to_string(BANGER_OPTIONS_MAX));
  }
  for (const auto& item : j.items()) {
    const std::string& name = item.key();
    auto dot = name.find('.');
    std::string capability = dot == std::string::npos ? "" : name.substr(0, dot);
    std::string key = dot == std::string::npos ? "" : name.substr(dot + 1);
    bool key_ok =
        !key.empty() && key.size() <= BANGER_OPTION_KEY_MAX &&
        key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_.-") == std::string::npos;
    if (!IsCapabilityName(capability) || !key_ok) {
      return Status::Invalid("create: option '" + name +
                             "' is not <capability>.<key> (a key is 1 to " +
                             std::to_string(BANGER_OPTION_KEY_MAX) + " of a-z 0-9 _ . -)");
    }
    if (!item.value().is_string()) {
      return Status::Invalid("create: option '" + name + "' must have a string value");
    }
    std::string value = item.value().get<std::string>();
    if (Status s = CheckText(name.c_str(), value, BANGER_OPTION_VALUE_MAX); !s) return s;
    // Shown by `vm show` to whoever looks: no terminal control bytes.
    if (std::any_of(value.begin(), value.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
      return Status::Invalid("create: option '" + name + "' holds a control character");
    }
    out[name] = value;
  }
  return Status::Ok();
}

// Who sent a request on the control socket: SO_PEERCRED's uid and gid, and
// the supplementary groups of that process while it still has that uid.
std::optional<Credentials> CallerOf(const HttpRequest& req) {
  if (req.peer_uid == static_cast<uid_t>(-1)) return std::nullopt;
  Credentials c{req.peer_uid, req.peer_gid, {}};
  if (auto now = CredentialsOf(req.peer_pid); now && now->uid == req.peer_uid) {
    c.groups = now->groups;
  }
  return c;
}

}  // namespace

Result<CreateVmRequest> ParseCreateRequest(const std::string& body, uint64_t max_disk_bytes) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    return Status::Invalid("create: the body is not JSON (or not UTF-8)");
  }
  if (!j.is_object()) return Status::Invalid("create: the body must be a JSON object");
  static const char* const kFields[] = {"name",  "kernel",     "rootfs",          "boot_args",
                                        "vcpus", "memory_mib", "work_disk_bytes", "options"};
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    if (std::find_if(std::begin(kFields), std::end(kFields),
                     [&key](const char* f) { return key == f; }) == std::end(kFields)) {
      return Status::Invalid("create: unknown field '" + key +
                             "'; a create takes name, kernel, rootfs, boot_args, vcpus, "
                             "memory_mib, work_disk_bytes, options");
    }
  }
  CreateVmRequest c;
  auto str = [&](const char* key, std::string& out, bool required, size_t max) -> Status {
    if (!j.contains(key)) {
      return required ? Status::Invalid(std::string("create: '") + key + "' is required")
                      : Status::Ok();
    }
    if (!j[key].is_string())
      return Status::Invalid(std::string("create: '") + key + "' must be a string");
    out = j[key].get<std::string>();
    return CheckText(key, out, max);
  };
  uint64_t vcpus = c.spec.vcpus, memory = c.spec.memory_mib, disk = 0;
  auto num = [&](const char* key, uint64_t min, uint64_t max, const char* unit,
                 uint64_t& out) -> Status {
    return j.contains(key) ? CheckNumber(j, key, min, max, unit, out) : Status::Ok();
  };
  for (Status s :
       {str("name", c.name, true, 63), str("kernel", c.spec.kernel_image, true, kMaxPath),
        str("rootfs", c.spec.rootfs, true, kMaxPath),
        str("boot_args", c.spec.boot_args, false, kMaxBootArgs),
        num("vcpus", 1, 32, " (Firecracker's limit)", vcpus),
        num("memory_mib", 16, HostMemoryMib(), " MiB (this host's memory)", memory),
        num("work_disk_bytes", 0, max_disk_bytes, " bytes (the state dir's file system)", disk)}) {
    if (!s) return s;
  }
  if (Status s = CheckVmName(c.name); !s) return s.Prefixed("create");
  c.spec.vcpus = static_cast<uint32_t>(vcpus);
  c.spec.memory_mib = memory;
  c.spec.work_disk_bytes = disk;
  if (j.contains("options")) {
    if (Status s = ParseOptions(j["options"], c.options); !s) return s;
  }
  return c;
}

namespace {

// What is known of a VM whose record cannot be read.
json CorruptVmJson(const VmLifecycle::CorruptVm& c) {
  return json{{"id", c.record.id},
              {"short_id", c.record.id.substr(0, 8)},
              {"name", c.record.name},
              {"state", "corrupt"},
              {"error", c.record.error},
              {"directory", c.dir},
              {"directory_exists", c.dir_exists},
              {"vmm_pids", c.vmm_pids},
              {"remedy", "bangerctl vm rm --force " + c.record.id +
                             " ends its VMM and removes its files and record"}};
}

// Written straight into the reply, one VM a line (no document is built:
// 1,000 VMs are ~1.3 MB of JSON). ?fields= names the members to write.
HttpResponse ListVms(const HttpRequest& req, const VmStore& store, const VmLifecycle& vms) {
  auto fields = VmFields::All();
  if (auto f = req.query.find("fields"); f != req.query.end()) {
    auto parsed = VmFields::Parse(f->second);
    if (!parsed) return Fail(parsed.status());
    fields = *parsed;
  }
  VmListing all = store.List();
  std::string body;
  body.reserve(64 + all.records.size() * 1024);  // grows at most once or twice
  JsonText w(body);
  w.BeginObject();
  w.Key("vms");
  w.BeginArray();
  for (size_t i = 0; i < all.records.size(); ++i) {
    w.NextOnNewLine();
    AppendVmJson(w, *all.records[i], all.stats[i].get(), fields);
  }
  w.EndArray();
  w.LineBreak();
  w.Key("corrupt");
  w.BeginArray();
  for (const auto& c : all.corrupt) {
    w.BeginObject();
    w.Field("id", c.id);
    w.Field("error", c.error);
    w.EndObject();
  }
  w.EndArray();
  w.Key("orphans");
  w.BeginArray();
  for (const auto& f : vms.Findings()) {
    w.BeginObject();
    w.Field("kind", f.kind);
    w.Field("id", f.vm_id);
    w.Field("detail", f.detail);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  body += '\n';
  return JsonResponse(200, std::move(body));
}

HttpResponse ListOperations(const OperationLog& ops) {
  json list = json::array();
  for (const auto& op : ops.Recent()) {
    json stages = json::array();
    for (const auto& s : op.stages) {
      json st = StageJson(s);
      st.erase("event");
      stages.push_back(st);
    }
    list.push_back({{"id", op.id},
                    {"op", op.kind},
                    {"vm", op.vm},
                    {"vm_id", op.vm_id},
                    {"started_at_ms", op.started_at_ms},
                    {"ms", op.ms},
                    {"done", op.done},
                    {"error", op.error},
                    {"stages", stages}});
  }
  return Ok(200, json{{"operations", list}});
}

// POST /v1/vms/{ref}/{verb} for a verb a capability registered.
HttpResponse RunVerb(const HttpRequest& req, const VerbInfo& verb, VmLifecycle& vms) {
  const std::string& action = req.params.at("action");
  std::string args = req.body.empty() ? "{}" : req.body;
  if (!json::accept(args)) return ErrorResponse(400, action + ": the body must be JSON");
  auto reply = vms.RunVerb(req.params.at("ref"), verb.capability, action, args);
  // A refusal is a conflict with the VM's state (409), not the agent's failure.
  if (!reply) return Fail(reply.status());
  if (!json::accept(*reply)) {
    return ErrorResponse(500,
                         verb.capability + " answered " + action + " with text that is not JSON");
  }
  return JsonResponse(200, *reply + "\n");
}

// POST /v1/vms/{ref}/{action}: the lifecycle's actions, else a capability's verb.
HttpResponse VmAction(const HttpRequest& req, VmLifecycle& vms, const VmStore& store,
                      const VerbRegistry& verbs) {
  const std::string& ref = req.params.at("ref");
  const std::string& action = req.params.at("action");
  using Call = Result<VmRecordPtr> (VmLifecycle::*)(const std::string&, const StageObserver&);
  const std::pair<const char*, Call> kStaged[] = {
      {"start", &VmLifecycle::Start}, {"stop", &VmLifecycle::Stop}, {"kill", &VmLifecycle::Kill}};
  for (const auto& staged : kStaged) {
    if (action != staged.first) continue;
    Call call = staged.second;
    return RunLifecycle(req, store,
                        [&vms, ref, call](const StageObserver& o) { return (vms.*call)(ref, o); });
  }
  if (action == "touch") {
    auto r = vms.Touch(ref);
    return r ? VmReply(200, store, **r) : Fail(r.status());
  }
  auto verb = verbs.Find(action);
  if (!verb) {
    std::string known = "start, stop, kill, touch";
    for (const auto& v : verbs.All()) known += ", " + v.verb;
    return ErrorResponse(
        404, "no command '" + action + "' for VMs (no capability registered it); known: " + known);
  }
  return RunVerb(req, *verb, vms);
}

HttpResponse VmLogs(const HttpRequest& req, const VmStore& store, int keep) {
  auto vm = store.Resolve(req.params.at("ref"));
  if (!vm) return Fail(vm.status().Prefixed("logs " + req.params.at("ref")));
  ConsoleLogRequest request;
  request.path = (*vm)->runtime.log_path;
  request.keep = keep;
  if (request.path.empty()) {
    return ErrorResponse(404, "vm \"" + (*vm)->name + "\" has no console log (it never started)");
  }
  auto follow = QueryFlag(req, "follow");
  if (!follow) return Fail(follow.status());
  request.follow = *follow;
  auto boot = QueryFlag(req, "boot");
  if (!boot) return Fail(boot.status());
  request.last_boot = *boot;
  if (auto t = req.query.find("tail"); t != req.query.end()) {
    char* end = nullptr;
    unsigned long long n = std::strtoull(t->second.c_str(), &end, 10);
    if (t->second.empty() || *end || n > 1000000) {
      return ErrorResponse(400, "?tail=" + t->second + ": a number of lines from 0 to 1000000");
    }
    request.tail_lines = n;
  }
  HttpResponse res;
  res.content_type = "text/plain; charset=utf-8";
  res.stream = [&store, request, id = (*vm)->id](const HttpResponse::Emit& emit) {
    StreamConsoleLog(request, kVmmStartMarker, emit, [&] {
      auto now = store.Get(id);
      return now && IsActive((*now)->state);
    });
  };
  return res;
}

}  // namespace

void AddVmRoutes(RouteTable& routes, VmLifecycle& vms, VmStore& store, VerbRegistry& verbs,
                 OperationLog& ops, int console_log_keep) {
  routes.Add("GET", "/v1/vms",
             [&store, &vms](const HttpRequest& req) { return ListVms(req, store, vms); });
  routes.Add("POST", "/v1/vms", [&vms, &store](const HttpRequest& req) {
    auto create = ParseCreateRequest(req.body, vms.MaxDiskBytes());
    if (!create) return Fail(create.status());
    create->caller = CallerOf(req);
    auto r = vms.Create(*create);
    return r ? VmReply(201, store, **r) : Fail(r.status());
  });
  routes.Add("GET", "/v1/vms/{ref}", [&store, &vms](const HttpRequest& req) {
    auto r = store.Resolve(req.params.at("ref"));
    if (r) return VmReply(200, store, **r);
    StatusCode why = r.status().code();
    if (why == StatusCode::kCorrupt || why == StatusCode::kNotFound) {
      if (auto c = vms.DescribeCorrupt(req.params.at("ref"))) return Ok(200, CorruptVmJson(*c));
    }
    return Fail(r.status());
  });
  routes.Add("DELETE", "/v1/vms/{ref}", [&vms](const HttpRequest& req) {
    auto force = QueryFlag(req, "force");
    if (!force) return Fail(force.status());
    Status s = vms.Remove(req.params.at("ref"), *force);
    return s ? Ok(200, json{{"removed", req.params.at("ref")}}) : Fail(s);
  });
  routes.Add("POST", "/v1/vms/{ref}/{action}",
             [&](const HttpRequest& req) { return VmAction(req, vms, store, verbs); });
  routes.Add("GET", "/v1/vms/{ref}/logs", [&store, console_log_keep](const HttpRequest& req) {
    return VmLogs(req, store, console_log_keep);
  });
  routes.Add("GET", "/v1/operations", [&ops](const HttpRequest&) { return ListOperations(ops); });
}

}  // namespace banger::core
