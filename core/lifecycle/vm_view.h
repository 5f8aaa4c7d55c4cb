// The banger_vm view a capability sees of a VmRecord: pointers into the
// record's strings, so the record must outlive the view (a hook call).
#pragma once

#include "banger/capability.h"
#include "core/store/vm_record.h"

namespace banger::core {

banger_vm MakeVmView(const VmRecord& record);

}  // namespace banger::core
