#include "plugins/stats/metrics_line.h"

#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <vector>

namespace stats {
namespace {

constexpr int kMaxDepth = 32;

// Characters a JSON string holds as they are: not '"', not a backslash, not a
// control character.
constexpr auto kPlain = [] {
  std::array<bool, 256> plain{};
  for (int ch = 0x20; ch < 256; ++ch) plain[ch] = ch != '"' && ch != '\\';
  return plain;
}();

// A number found on the line: its dotted name is names[begin, begin+size).
// A number found on the line: its dotted name is names[begin, begin+size),
// its text line[at, at+length).
struct Found {
  size_t begin, size;
  size_t at, length;
  double value;
  bool absolute;
};

// A JSON number at p: its end, or nullptr.
const char* ParseNumber(const char* p, const char* end, double* value) {
  if (p >= end || !(*p == '-' || std::isdigit(static_cast<unsigned char>(*p)))) return nullptr;
  // Nearly every metric is a plain unsigned integer: read it directly.
  const char* q = p;
  uint64_t n = 0;
  while (q < end && q - p < 19 && std::isdigit(static_cast<unsigned char>(*q))) {
    n = n * 10 + static_cast<uint64_t>(*q - '0');
    ++q;
  }
  bool plain = q > p && (q == end || !(std::isdigit(static_cast<unsigned char>(*q)) || *q == '.' ||
                                       *q == 'e' || *q == 'E'));
  if (plain) {
    *value = static_cast<double>(n);
    return q;
  }
  auto [next, ec] = std::from_chars(p, end, *value);
  if (ec != std::errc() || next == p) return nullptr;
  return next;
}

bool IsAbsolute(std::string_view group, std::string_view leaf) {
  return group == "api_server" || group == "latencies_us" || group == "utc_timestamp_ms" ||
         leaf == "min_us" || leaf == "max_us";
}

class LineScanner {
 public:
  LineScanner(std::string_view text, std::string& names, std::vector<Found>& found)
      : begin_(text.data()),
        p_(text.data()),
        end_(text.data() + text.size()),
        names_(names),
        found_(found) {}

  bool Line() {
    Space();
    if (!Object(0)) return false;
    Space();
    return p_ == end_;
  }

 private:
  void Space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\r' || *p_ == '\n')) ++p_;
  }

  bool Eat(char c) {
    Space();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }

  // A string; its text (escapes decoded, \uXXXX kept as written) into `out`.
  // Runs of plain characters are appended at once.
  bool String(std::string* out) {
    const char* p = p_;
    if (p >= end_ || *p != '"') return false;
    ++p;
    for (;;) {
      const char* run = p;
      while (p < end_ && kPlain[static_cast<unsigned char>(*p)]) ++p;
      if (out) out->append(run, static_cast<size_t>(p - run));
      if (p >= end_ || static_cast<unsigned char>(*p) < 0x20) return false;
      if (*p == '"') {
        p_ = p + 1;
        return true;
      }
      if (++p >= end_) return false;  // past the backslash
      char e = *p++;
      switch (e) {
        case '"':
        case '\\':
        case '/':
          break;
        case 'b':
          e = '\b';
          break;
        case 'f':
          e = '\f';
          break;
        case 'n':
          e = '\n';
          break;
        case 'r':
          e = '\r';
          break;
        case 't':
          e = '\t';
          break;
        case 'u':
          if (end_ - p < 4) return false;
          for (int i = 0; i < 4; ++i) {
            if (!std::isxdigit(static_cast<unsigned char>(p[i]))) return false;
          }
          if (out) out->append("\\u").append(p, 4);
          p += 4;
          continue;
        default:
          return false;
      }
      if (out) out->push_back(e);
    }
  }

  bool Number(double* value) {
    const char* next = ParseNumber(p_, end_, value);
    if (!next) return false;
    p_ = next;
    return true;
  }

  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    return true;
  }

  bool Array(int depth) {
    ++p_;  // '['
    if (Eat(']')) return true;
    do {
      if (!Skip(depth + 1)) return false;
    } while (Eat(','));
    return Eat(']');
  }

  // Any value whose numbers are not metrics (inside an array).
  bool Skip(int depth) {
    if (depth > kMaxDepth) return false;
    Space();
    if (p_ >= end_) return false;
    double ignored;
    switch (*p_) {
      case '{': {
        ++p_;
        if (Eat('}')) return true;
        do {
          Space();
          if (!String(nullptr) || !Eat(':') || !Skip(depth + 1)) return false;
        } while (Eat(','));
        return Eat('}');
      }
      case '[':
        return Array(depth);
      case '"':
        return String(nullptr);
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        return Number(&ignored);
    }
  }

  // An object whose members are named <path>.<key>, under the top-level
  // key `group_`.
  bool Object(int depth) {
    if (depth > kMaxDepth || !Eat('{')) return false;
    if (Eat('}')) return true;
    const size_t prefix = path_.size();
    do {
      Space();
      path_.resize(prefix);
      if (prefix > 0) path_.push_back('.');
      size_t key_at = path_.size();
      if (!String(&path_) || !Eat(':')) return false;
      std::string_view key(path_.data() + key_at, path_.size() - key_at);
      if (depth == 0) group_.assign(key);
      Space();
      if (p_ >= end_) return false;
      if (depth == 0 && (key == "id" || key == "properties")) {
        if (!Skip(depth + 1)) return false;
      } else if (*p_ == '{') {
        if (!Object(depth + 1)) return false;
      } else if (*p_ == '-' || std::isdigit(static_cast<unsigned char>(*p_))) {
        double v;
        const char* at = p_;
        if (!Number(&v)) return false;
        key = std::string_view(path_.data() + key_at, path_.size() - key_at);
        found_.push_back({names_.size(), path_.size(), static_cast<size_t>(at - begin_),
                          static_cast<size_t>(p_ - at), v, IsAbsolute(group_, key)});
        names_.append(path_);
      } else if (!Skip(depth + 1)) {
        return false;
      }
    } while (Eat(','));
    path_.resize(prefix);
    return Eat('}');
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  std::string path_, group_;
  std::string& names_;
  std::vector<Found>& found_;
};

}  // namespace

bool MetricsFolder::FoldLikeLast(std::string_view line) {
  // The line must be the last parsed one with other numbers in the holes:
  // every byte between them the same. Then it is valid JSON too, and the
  // k-th hole is the k-th metric.
  thread_local std::vector<double> scratch;
  scratch.resize(holes_.size());
  double* values = scratch.data();
  const char* p = line.data();
  const char* end = p + line.size();
  size_t from = 0;  // in last_line_
  for (size_t k = 0; k < holes_.size(); ++k) {
    const Hole& hole = holes_[k];
    size_t same = hole.at - from;
    if (static_cast<size_t>(end - p) < same ||
        std::memcmp(p, last_line_.data() + from, same) != 0) {
      return false;
    }
    p += same;
    const char* next = ParseNumber(p, end, &values[k]);
    if (!next) return false;
    p = next;
    from = hole.at + hole.length;
  }
  size_t rest = last_line_.size() - from;
  if (static_cast<size_t>(end - p) != rest || std::memcmp(p, last_line_.data() + from, rest) != 0) {
    return false;
  }
  for (size_t k = 0; k < holes_.size(); ++k) {
    double& total = values_[holes_[k].slot];
    total = holes_[k].absolute ? values[k] : total + values[k];
  }
  return true;
}

bool MetricsFolder::Fold(std::string_view line) {
  if (!holes_.empty() && FoldLikeLast(line)) return true;
  // Reused between lines: a tick over many VMs allocates nothing per line
  // once the names of a line have been seen.
  thread_local std::string names;
  thread_local std::vector<Found> found;
  names.clear();
  found.clear();
  if (!LineScanner(line, names, found).Line()) return false;
  last_line_.assign(line);
  holes_.clear();
  for (size_t i = 0; i < found.size(); ++i) {
    const Found& f = found[i];
    std::string_view n(names.data() + f.begin, f.size);
    size_t at = i < size() && name(i) == n ? i : Find(n);
    if (at == kAbsent) at = Add(n);
    values_[at] = f.absolute ? f.value : values_[at] + f.value;
    holes_.push_back({f.at, f.length, at, f.absolute});
  }
  return true;
}

void MetricsFolder::Clear() {
  last_line_.clear();
  holes_.clear();
  names_.clear();
  name_end_.clear();
  values_.clear();
  index_.clear();
}

std::string_view MetricsFolder::name(size_t i) const {
  size_t begin = i == 0 ? 0 : name_end_[i - 1];
  return std::string_view(names_).substr(begin, name_end_[i] - begin);
}

size_t MetricsFolder::Find(std::string_view n) const {
  auto it = index_.find(n);
  return it == index_.end() ? kAbsent : it->second;
}

double MetricsFolder::Get(std::string_view n) const {
  size_t at = Find(n);
  return at == kAbsent ? 0.0 : values_[at];
}

MetricTotals MetricsFolder::Totals() const {
  MetricTotals totals;
  for (size_t i = 0; i < size(); ++i) totals.emplace(name(i), values_[i]);
  return totals;
}

size_t MetricsFolder::Add(std::string_view n) {
  names_.append(n);
  name_end_.push_back(names_.size());
  values_.push_back(0.0);
  index_.emplace(std::string(n), values_.size() - 1);
  return values_.size() - 1;
}

}  // namespace stats
