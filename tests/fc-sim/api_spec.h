// ApiSpec: the request-body facts of Firecracker's API (required fields,
// types, enums, ranges), transcribed in firecracker_api_spec.json and built
// into fc-sim, and the validation Firecracker's deserializer performs with
// them: a missing required field, a field of the wrong type, an enum value
// or number out of range, or an unknown field is refused.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace fcsim {

class ApiSpec {
 public:
  // The spec built into this binary.
  static const ApiSpec& BuiltIn();
  explicit ApiSpec(const std::string& json_text);

  // nullopt when `body` is a valid `definition`; otherwise the reason, worded
  // like Firecracker's ("missing field `kernel_image_path`").
  std::optional<std::string> Validate(const std::string& definition,
                                      const nlohmann::json& body) const;
  const nlohmann::json& definitions() const { return spec_["definitions"]; }

 private:
  nlohmann::json spec_;
};

}  // namespace fcsim
