// Text for roff (man(7)) pages: backslashes and hyphens escaped, a newline
// made a space, a leading dot or quote defused. bangerd's and bangerctl's
// man pages are rendered with it.
#pragma once

#include <string>

namespace banger::core {

std::string RoffText(const std::string& text);

}  // namespace banger::core
