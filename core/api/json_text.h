// JsonText: JSON written straight into one string, without building a
// document first: what a listing of 1,000 VMs is made with (a DOM of it is
// ~300,000 small allocations and most of the listing's time). The caller
// says the structure (Object/Array, Key, values); commas are placed here.
// Strings are escaped as RFC 8259 asks; bytes that are not UTF-8 become
// U+FFFD, as the API's other replies do. A number that is not finite is
// written as null. Not thread-safe; one writer per reply.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace banger::core {

class JsonText {
 public:
  explicit JsonText(std::string& out) : out_(out) {}

  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();
  // A member's key, inside an object; the value follows.
  void Key(std::string_view key);
  void String(std::string_view s);
  void Int(int64_t v);
  void UInt(uint64_t v);
  void Double(double v);
  void Bool(bool v);
  void Null();
  // A member: its key, then its value.
  void Field(std::string_view key, std::string_view value) {
    Key(key);
    String(value);
  }
  template <typename T>
  requires std::integral<T> &&(!std::same_as<T, bool>)void Field(std::string_view key, T value) {
    Key(key);
    if constexpr (std::is_signed_v<T>) {
      Int(value);
    } else {
      UInt(value);
    }
  }
  // A value written elsewhere (valid JSON, not checked).
  void Raw(std::string_view json);
  // The next value starts a line of its own (after its comma): a long
  // listing then reads one element per line.
  void NextOnNewLine() { new_line_ = true; }
  // A newline here, now.
  void LineBreak() { out_ += '\n'; }

  // Appends `s` as a JSON string literal (quotes included).
  static void AppendString(std::string& out, std::string_view s);

 private:
  void BeforeValue();

  std::string& out_;
  // Per open container: whether a value (or member) was written in it yet,
  // and whether a key was just written (its value needs no comma).
  std::vector<bool> has_value_;
  bool after_key_ = false;
  bool new_line_ = false;
};

}  // namespace banger::core
