// hello: the smallest useful capability. It registers a `hello` verb
// (`bangerctl vm hello NAME`) that answers with a configurable greeting.
#include <banger/capability.hpp>

namespace {

class Hello {
 public:
  explicit Hello(banger::Host host) : host_(host), greeting_(host.ConfigOr("greeting", "hello")) {
    if (auto s = host_.RegisterVerb("hello", "greet a VM"); !s.ok()) {
      throw std::runtime_error(s.message());
    }
  }

  banger::Status Query(std::string_view, const banger::Vm& vm, std::string_view,
                       std::string& reply) {
    // JsonString escapes: a greeting may hold a quote.
    reply = "{\"greeting\":" + banger::JsonString(greeting_ + ", " + std::string(vm.name())) + "}";
    return banger::Status::Ok();
  }

 private:
  banger::Host host_;
  std::string greeting_;
};

const banger_config_key kKeys[] = {
    {"greeting", "hello", "the word the hello verb answers with"},
    {nullptr, nullptr, nullptr},
};

}  // namespace

BANGER_CAPABILITY(Hello, (banger::Info{.name = "hello",
                                       .version = "1.0.0",
                                       .description = "answers the hello verb",
                                       .config_keys = kKeys}))
