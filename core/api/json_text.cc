#include "core/api/json_text.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>

namespace banger::core {
namespace {

// Length of the valid UTF-8 sequence at s[i] (1-4), or 0 when it is not one.
size_t Utf8Length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (c >= 0xF5 || n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  // No overlong forms, no surrogates, nothing past U+10FFFF.
  unsigned char d = byte(i + 1);
  if (c == 0xE0 && d < 0xA0) return 0;
  if (c == 0xED && d >= 0xA0) return 0;
  if (c == 0xF0 && d < 0x90) return 0;
  if (c == 0xF4 && d >= 0x90) return 0;
  return n;
}

}  // namespace

// Bytes copied as they are: printable ASCII but the quote and the backslash.
constexpr auto kPlain = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
  return plain;
}();

// True when none of the 8 bytes of `w` needs a look: none is below 0x20,
// 0x80 or above, a quote or a backslash (SWAR: a zero byte of x shows in
// (x - 0x01..) & ~x & 0x80..).
bool EightPlain(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  auto has_zero = [](uint64_t x) { return (x - kOnes) & ~x & kHigh; };
  uint64_t below_space = (w - 0x2020202020202020ull) & ~w & kHigh;
  return ((w & kHigh) | below_space | has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\'))) ==
         0;
}

void JsonText::AppendString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t plain = 0;  // start of the run of bytes copied as they are
  for (size_t i = 0; i < s.size();) {
    if (i + 8 <= s.size()) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (EightPlain(w)) {
        i += 8;
        continue;
      }
    }
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (kPlain[c]) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      size_t n = Utf8Length(s, i);
      if (n > 0) {
        i += n;
        continue;
      }
    }
    out.append(s.substr(plain, i - plain));
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += "\xEF\xBF\xBD";  // U+FFFD for a byte that starts no UTF-8 sequence
        }
    }
    plain = ++i;
  }
  out.append(s.substr(plain));
  out += '"';
}

void JsonText::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!has_value_.empty()) {
    if (has_value_.back()) out_ += ',';
    has_value_.back() = true;
  }
  if (new_line_) {
    out_ += '\n';
    new_line_ = false;
  }
}

void JsonText::BeginObject() {
  BeforeValue();
  out_ += '{';
  has_value_.push_back(false);
}

void JsonText::EndObject() {
  out_ += '}';
  has_value_.pop_back();
}

void JsonText::BeginArray() {
  BeforeValue();
  out_ += '[';
  has_value_.push_back(false);
}

void JsonText::EndArray() {
  out_ += ']';
  has_value_.pop_back();
}

void JsonText::Key(std::string_view key) {
  BeforeValue();
  AppendString(out_, key);
  out_ += ':';
  after_key_ = true;
}

void JsonText::String(std::string_view s) {
  BeforeValue();
  AppendString(out_, s);
}

void JsonText::Int(int64_t v) {
  BeforeValue();
  char buf[24];
  out_.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

void JsonText::UInt(uint64_t v) {
  BeforeValue();
  char buf[24];
  out_.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

void JsonText::Double(double v) {
  BeforeValue();
  if (!std::isfinite(v)) {
    out_ += "null";
    return;
  }
  char buf[32];
  char* end = std::to_chars(buf, buf + sizeof buf, v).ptr;  // shortest that reads back
  out_.append(buf, end);
  // An integral value keeps a JSON number's float form, as nlohmann writes it.
  if (std::string_view(buf, end - buf).find_first_of(".e") == std::string_view::npos) {
    out_ += ".0";
  }
}

void JsonText::Bool(bool v) {
  BeforeValue();
  out_ += v ? "true" : "false";
}

void JsonText::Null() {
  BeforeValue();
  out_ += "null";
}

void JsonText::Raw(std::string_view json) {
  BeforeValue();
  out_.append(json);
}

}  // namespace banger::core
