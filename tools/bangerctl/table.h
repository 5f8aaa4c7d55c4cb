// Table: column-aligned text output for bangerctl listings (docker/kubectl
// style: upper-case headers, two spaces between columns, "-" for empty).
#pragma once

#include <string>
#include <vector>

namespace bangerctl {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void AddRow(std::vector<std::string> cells);
  // The rendered table, one line per row, trailing spaces trimmed.
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace bangerctl
