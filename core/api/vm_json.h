// The JSON of a VM as the API answers it (GET /v1/vms, /v1/vms/{ref}, the
// result of a create, start, stop, kill or touch): one table of its
// top-level members, written with JsonText straight into the reply. A
// listing may ask for some members only (`?fields=name,state,handles`).
#pragma once

#include <bitset>
#include <string>
#include <string_view>

#include "core/api/json_text.h"
#include "core/base/status.h"
#include "core/store/vm_record.h"

namespace banger::core {

// Which top-level members to write: all by default.
class VmFields {
 public:
  static constexpr size_t kCount = 16;
  static VmFields All() {
    VmFields f;
    f.bits_.set();
    return f;
  }
  // "id,name,state": each a member's name (VmFieldNames()). Invalid, naming
  // the unknown one and listing the known, for anything else; an empty list
  // is every member.
  static Result<VmFields> Parse(std::string_view list);
  bool has(size_t i) const { return bits_.test(i); }

 private:
  std::bitset<kCount> bits_;
};

// "id, short_id, name, ...": the members, in the order they are written.
std::string VmFieldNames();

// `r` with its figures (null: none published) as one JSON object.
void AppendVmJson(JsonText& out, const VmRecord& r, const VmStats* figures,
                  const VmFields& fields = VmFields::All());
std::string VmJsonText(const VmRecord& r, const VmStats* figures);

}  // namespace banger::core
