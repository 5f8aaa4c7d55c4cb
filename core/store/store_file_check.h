// StoreFileCheck: judges an LMDB data file (data.mdb) by reading it with
// pread, before LMDB maps it. LMDB trusts its file: a file shorter than the
// pages its trees reach is mapped anyway and the first read past the end
// kills the process with SIGBUS; a damaged page is walked as if it were
// whole (records vanish or appear twice, with no error). This check follows
// every page the trees reach from the newer meta page: each must lie inside
// the file, carry its own page number, be a well-formed branch, leaf or
// overflow page, and keys must rise strictly across each tree; each named
// table's page and entry counts must match what its record says. It reads
// each reachable page once and writes nothing. For LMDB 0.9's on-disk
// format (little-endian, 64-bit page numbers), the only one this agent uses.
#pragma once

#include <cstdint>
#include <string>

#include "core/base/status.h"

namespace banger::core {

struct StoreFileFacts {
  uint64_t file_bytes = 0;
  uint32_t page_size = 0;
  uint64_t entries = 0;  // leaf entries, all tables
};

// Error (naming the file, the page and what is wrong with it) for a file
// LMDB must not open. A missing or empty file is NotFound: whether that is
// a new store or a lost one is the caller's judgement.
Result<StoreFileFacts> CheckStoreFile(const std::string& data_path);

}  // namespace banger::core
