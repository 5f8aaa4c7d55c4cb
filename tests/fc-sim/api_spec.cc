#include "tests/fc-sim/api_spec.h"

#include "tests/fc-sim/firecracker_api_spec_data.h"

namespace fcsim {

using nlohmann::json;

const ApiSpec& ApiSpec::BuiltIn() {
  static const ApiSpec spec(kFirecrackerApiSpecJson);
  return spec;
}

ApiSpec::ApiSpec(const std::string& json_text) : spec_(json::parse(json_text)) {}

namespace {

const char* TypeOf(const json& v) {
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer() || v.is_number_unsigned()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_object()) return "object";
  if (v.is_array()) return "array";
  return "null";
}

}  // namespace

std::optional<std::string> ApiSpec::Validate(const std::string& definition,
                                             const json& body) const {
  const json& def = spec_["definitions"].at(definition);
  if (!body.is_object()) {
    return std::string("invalid type: ") + TypeOf(body) + ", expected struct " + definition;
  }
  for (const auto& field : def["required"]) {
    if (!body.contains(field.get<std::string>())) {
      return "missing field `" + field.get<std::string>() + "`";
    }
  }
  const json& props = def["properties"];
  for (const auto& [name, value] : body.items()) {
    if (!props.contains(name)) {
      std::string expected;
      for (const auto& [p, _] : props.items())
        expected += (expected.empty() ? "`" : ", `") + p + "`";
      return "unknown field `" + name + "`, expected one of " + expected;
    }
    const json& prop = props[name];
    std::string want = prop["type"];
    std::string got = TypeOf(value);
    if (want != got) {
      return "invalid type: " + got + " for field `" + name + "`, expected " + want;
    }
    if (prop.contains("enum")) {
      bool found = false;
      for (const auto& e : prop["enum"]) found = found || e == value;
      if (!found) {
        return "unknown variant `" + value.get<std::string>() + "` for field `" + name + "`";
      }
    }
    if (want == "integer") {
      if (value.is_number_integer() && value.get<int64_t>() < 0 && !prop.contains("minimum")) {
        return "invalid value: integer `" + value.dump() + "` for field `" + name +
               "`, expected an unsigned integer";
      }
      if (prop.contains("minimum") && value.get<int64_t>() < prop["minimum"].get<int64_t>()) {
        return "invalid value for field `" + name + "`: " + value.dump() +
               " is below the minimum " + prop["minimum"].dump();
      }
      if (prop.contains("maximum") && value.get<int64_t>() > prop["maximum"].get<int64_t>()) {
        return "invalid value for field `" + name + "`: " + value.dump() +
               " is above the maximum " + prop["maximum"].dump();
      }
    }
    if (prop.contains("additionalProperties") && value.is_object()) {
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) {
          return "invalid type: " + std::string(TypeOf(v)) + " for `" + name + "." + k +
                 "`, expected string";
        }
      }
    }
  }
  return std::nullopt;
}

}  // namespace fcsim
