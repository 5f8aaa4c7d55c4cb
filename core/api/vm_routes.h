// The VM part of the control API:
//   GET    /v1/vms                          list (with corrupt records reported)
//   POST   /v1/vms                          create {name, kernel, rootfs, ...}
//   GET    /v1/vms/{ref}                    show
//   DELETE /v1/vms/{ref}[?force=1]          remove
//   POST   /v1/vms/{ref}/{start|stop|kill|touch}[?stream=1]
//   POST   /v1/vms/{ref}/{verb}             a capability's verb (body: its args)
//   GET    /v1/vms/{ref}/logs[?tail=N|boot=1][&follow=1]  the console log, as
//          text (boot: from the last VMM start on; follow: as it is written,
//          until the VM stops)
//   GET    /v1/operations                   recent operations and their stages
// With ?stream=1 the reply is NDJSON, one event per completed stage, then
// the result: {"event":"stage",...} ... {"event":"result","vm":{...}} or
// {"event":"error","error":"..."}.
#pragma once

#include "core/api/route_table.h"
#include "core/lifecycle/operation_log.h"
#include "core/lifecycle/vm_lifecycle.h"
#include "core/plugin_host/verb_registry.h"
#include "core/store/vm_store.h"

namespace banger::core {

void AddVmRoutes(RouteTable& routes, VmLifecycle& vms, VmStore& store, VerbRegistry& verbs,
                 OperationLog& ops, int console_log_keep);

// The body of POST /v1/vms, checked field by field (types, ranges, NUL,
// lengths, unknown fields); `max_disk_bytes` bounds the work disk. Exposed
// for the fuzzer.
Result<CreateVmRequest> ParseCreateRequest(const std::string& body, uint64_t max_disk_bytes);

// HTTP status for a core Status (404, 409, 400, 503, 500).
int HttpStatusFor(const Status& s);

}  // namespace banger::core
