// bangerd's manual pages, rendered at build time from what the program
// itself uses: bangerd.8 from its command-line flags, bangerd.conf.5 from the
// [core] key table its config parser reads and from the config keys each
// capability declares (its own table, read from the .so without running it).
#pragma once

#include <boost/program_options/options_description.hpp>
#include <string>

#include "core/agent/agent_config.h"

namespace banger::core {

std::string BangerdManPage(const boost::program_options::options_description& flags);
// `config`'s plugin_dirs are where the capabilities are read from.
std::string BangerdConfManPage(const AgentConfig& config);

}  // namespace banger::core
