// Linked into odr_check with every core layer (tests/CMakeLists.txt): uses
// each type the SDK's C++ helper defines, so that link-time optimisation
// compares them with every type of the same name in core (-Werror=odr). A core
// type in the SDK's namespace with an SDK name fails the link.
#include <banger/capability.hpp>

namespace banger_odr_check {

banger::Status SdkStatus() {
  return banger::Status::Skip("odr");
}
banger::Result<std::string> SdkResult() {
  return {banger::Status::Ok(), "odr"};
}
banger::VmInfo SdkVmInfo(const banger_vm& vm) {
  return banger::VmInfo::From(vm);
}
std::string_view SdkVmName(const banger::Vm& vm) {
  return vm.name();
}
banger::ExecOutcome SdkExec(const banger::Host& host) {
  return host.Exec({"true"}, 1000).value;
}
banger::Info SdkInfo() {
  return banger::Info{.name = "odr", .version = "0"};
}
void SdkSkip() {
  throw banger::SkipError("odr");
}
std::optional<int64_t> SdkDuration() {
  return banger::ParseDurationMs("1s");
}

}  // namespace banger_odr_check
