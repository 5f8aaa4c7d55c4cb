#include "core/store/store_file_check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "core/base/unique_fd.h"

namespace banger::core {
namespace {

// LMDB 0.9's layout (mdb.c): a 16-byte page header (pgno u64, pad u16,
// flags u16, lower u16, upper u16; an overflow page keeps its page count as
// a u32 where lower/upper are), then for a meta page the MDB_meta: magic u32,
// version u32, address, map size, the free and main tables' MDB_db (48
// bytes each), last page u64, txnid u64.
constexpr size_t kHeader = 16;
constexpr uint16_t kBranch = 0x01, kLeaf = 0x02, kOverflow = 0x04, kMeta = 0x08;
constexpr uint16_t kBigData = 0x01, kSubData = 0x02, kDupData = 0x04;
constexpr uint32_t kMagic = 0xBEEFC0DE;
constexpr uint32_t kDataVersion = 1;
constexpr size_t kMetaSize = 136;
constexpr size_t kTreeOffset = 24, kTreeSize = 48, kLastPageOffset = 120, kTxnOffset = 128;
constexpr uint64_t kNoRoot = ~uint64_t{0};

uint16_t U16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint32_t U32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint64_t U64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// An MDB_db: a table's tree and what its pages should add up to.
struct Tree {
  uint32_t pad = 0;  // the free table's holds the page size
  uint16_t depth = 0;
  uint64_t branch = 0, leaf = 0, overflow = 0, entries = 0, root = kNoRoot;
};

Tree ReadTree(const uint8_t* p) {
  Tree t;
  t.pad = U32(p);
  t.depth = U16(p + 6);
  t.branch = U64(p + 8);
  t.leaf = U64(p + 16);
  t.overflow = U64(p + 24);
  t.entries = U64(p + 32);
  t.root = U64(p + 40);
  return t;
}

// What one walk of a tree found.
struct Counts {
  uint64_t branch = 0, leaf = 0, overflow = 0, entries = 0;
};

class Walker {
 public:
  // Pages past `usable` (the file's end, or the meta's last page if sooner)
  // are never read.
  Walker(int fd, std::string path, uint32_t page_size, uint64_t file_pages, uint64_t usable)
      : fd_(fd),
        path_(std::move(path)),
        page_size_(page_size),
        file_pages_(file_pages),
        usable_(usable),
        seen_(usable, false) {}

  // Walks one table. `main`: its leaves name the other tables (F_SUBDATA),
  // each walked in turn. `int_keys`: the free table's native integer keys.
  Status WalkTable(std::string_view name, const Tree& tree, bool main, bool int_keys) {
    if (tree.root == kNoRoot) return Status::Ok();
    Table t{name, main, int_keys, {}, {}, false};
    if (Status s = Walk(tree.root, tree.depth, t); !s) return s;
    if (t.counts.branch != tree.branch || t.counts.leaf != tree.leaf ||
        t.counts.overflow != tree.overflow || t.counts.entries != tree.entries) {
      return Damaged("table '" + std::string(name) + "' reaches " +
                     std::to_string(t.counts.entries) + " entries in " +
                     std::to_string(t.counts.branch + t.counts.leaf + t.counts.overflow) +
                     " pages, its record says " + std::to_string(tree.entries) + " in " +
                     std::to_string(tree.branch + tree.leaf + tree.overflow));
    }
    total_.branch += t.counts.branch;
    total_.leaf += t.counts.leaf;
    total_.overflow += t.counts.overflow;
    total_.entries += t.counts.entries;
    return Status::Ok();
  }
  const Counts& total() const { return total_; }

 private:
  struct Table {
    std::string_view name;
    bool main;
    bool int_keys;
    Counts counts;
    std::string last_key;
    bool have_last;
  };

  Status Damaged(const std::string& why) const {
    return Status::Error("store file " + path_ + " is damaged: " + why);
  }

  Status ReadPage(uint64_t pgno, std::vector<uint8_t>& page) {
    if (pgno >= file_pages_) {
      return Damaged("page " + std::to_string(pgno) + " is past the end of the file (" +
                     std::to_string(file_pages_) + " pages): the file was cut short");
    }
    if (pgno >= usable_) {
      return Damaged("page " + std::to_string(pgno) +
                     " is past the last page the meta page names (" + std::to_string(usable_ - 1) +
                     ")");
    }
    if (seen_[pgno]) return Damaged("page " + std::to_string(pgno) + " is reached twice");
    seen_[pgno] = true;
    page.resize(page_size_);
    ssize_t n = ::pread(fd_, page.data(), page_size_, static_cast<off_t>(pgno * page_size_));
    if (n != static_cast<ssize_t>(page_size_)) {
      return Status::Error("store file " + path_ + ": cannot read page " + std::to_string(pgno) +
                           ": " + (n < 0 ? std::strerror(errno) : "short read"));
    }
    if (U64(page.data()) != pgno) {
      return Damaged("page " + std::to_string(pgno) + " says it is page " +
                     std::to_string(U64(page.data())));
    }
    return Status::Ok();
  }

  bool KeyRises(const Table& t, const uint8_t* key, size_t size) const {
    if (!t.have_last) return true;
    if (t.int_keys && size == 8 && t.last_key.size() == 8) {
      return U64(reinterpret_cast<const uint8_t*>(t.last_key.data())) < U64(key);
    }
    return std::string_view(t.last_key) <
           std::string_view(reinterpret_cast<const char*>(key), size);
  }

  // `depth`: levels left, 1 at a leaf.
  Status Walk(uint64_t pgno, unsigned depth, Table& t) {
    std::vector<uint8_t> page;
    if (Status s = ReadPage(pgno, page); !s) return s;
    auto at = [&] {
      return "page " + std::to_string(pgno) + " of table '" + std::string(t.name) + "'";
    };
    uint16_t flags = U16(&page[10]), lower = U16(&page[12]), upper = U16(&page[14]);
    uint16_t want = depth > 1 ? kBranch : kLeaf;
    if (depth == 0 || flags != want) {
      return Damaged(at() + " should be a " + (want == kBranch ? "branch" : "leaf") +
                     " page, its flags say " + std::to_string(flags));
    }
    if (lower < kHeader || (lower - kHeader) % 2 != 0 || lower > upper || upper > page_size_) {
      return Damaged(at() + " has a broken header (lower " + std::to_string(lower) + ", upper " +
                     std::to_string(upper) + ")");
    }
    size_t nodes = (lower - kHeader) / 2;
    if (nodes == 0 || (flags == kBranch && nodes < 2)) {
      return Damaged(at() + " holds " + std::to_string(nodes) + " keys");
    }
    ++(flags == kBranch ? t.counts.branch : t.counts.leaf);
    for (size_t i = 0; i < nodes; ++i) {
      size_t node = U16(&page[kHeader + 2 * i]);
      if (node < upper || node % 2 != 0 || node + 8 > page_size_) {
        return Damaged(at() + ": node " + std::to_string(i) + " points outside the page");
      }
      const uint8_t* n = &page[node];
      uint16_t lo = U16(n), hi = U16(n + 2), node_flags = U16(n + 4), key_size = U16(n + 6);
      if (node + 8 + key_size > page_size_) {
        return Damaged(at() + ": node " + std::to_string(i) + "'s key runs past the page");
      }
      if (flags == kBranch) {
        uint64_t child = lo | uint64_t{hi} << 16 | uint64_t{node_flags} << 32;
        if (Status s = Walk(child, depth - 1, t); !s) return s;
        continue;
      }
      if (Status s = Entry(pgno, i, node, page, t); !s) return s;
    }
    return Status::Ok();
  }

  // One leaf entry: its key rises, its data lies where it says.
  Status Entry(uint64_t pgno, size_t i, size_t node, const std::vector<uint8_t>& page, Table& t) {
    auto at = [&] {
      return "page " + std::to_string(pgno) + " of table '" + std::string(t.name) + "'";
    };
    const uint8_t* n = &page[node];
    uint32_t data_size = U16(n) | uint32_t{U16(n + 2)} << 16;
    uint16_t node_flags = U16(n + 4), key_size = U16(n + 6);
    const uint8_t* key = n + 8;
    if (!KeyRises(t, key, key_size)) {
      return Damaged(at() + ": entry " + std::to_string(i) +
                     " does not sort after the one before it (a record lost or listed twice)");
    }
    t.last_key.assign(reinterpret_cast<const char*>(key), key_size);
    t.have_last = true;
    ++t.counts.entries;
    if (node_flags & kDupData)
      return Damaged(at() + ": entry " + std::to_string(i) + " is a DUPSORT");
    const uint8_t* data = key + key_size;
    if (node_flags & kBigData) {
      if (node + 8 + key_size + 8 > page_size_) {
        return Damaged(at() + ": entry " + std::to_string(i) + " runs past the page");
      }
      return Overflow(U64(data), data_size, t);
    }
    if (node + 8 + key_size + data_size > page_size_) {
      return Damaged(at() + ": entry " + std::to_string(i) + "'s data runs past the page");
    }
    if (!t.main || !(node_flags & kSubData)) return Status::Ok();
    if (data_size != kTreeSize)
      return Damaged(at() + ": a table record of " + std::to_string(data_size) + " bytes");
    std::string name(reinterpret_cast<const char*>(key), key_size);
    return WalkTable(name, ReadTree(data), false, false);
  }

  Status Overflow(uint64_t first, uint32_t data_size, Table& t) {
    std::vector<uint8_t> page;
    if (Status s = ReadPage(first, page); !s) return s;
    uint32_t pages = U32(&page[12]);
    if (U16(&page[10]) != kOverflow || pages == 0 ||
        uint64_t{pages} * page_size_ < data_size + kHeader || first + pages > usable_) {
      return Damaged("overflow page " + std::to_string(first) + " of table '" +
                     std::string(t.name) + "' is broken or cut short");
    }
    for (uint64_t p = first + 1; p < first + pages; ++p) seen_[p] = true;
    t.counts.overflow += pages;
    return Status::Ok();
  }

  int fd_;
  std::string path_;
  uint32_t page_size_;
  uint64_t file_pages_;
  uint64_t usable_;
  std::vector<bool> seen_;
  Counts total_;
};

}  // namespace

Result<StoreFileFacts> CheckStoreFile(const std::string& data_path) {
  UniqueFd fd(::open(data_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Status::NotFound("store file " + data_path + " does not exist");
    return Status::Error("cannot read store file " + data_path + ": " + std::strerror(errno));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    return Status::Error("cannot stat store file " + data_path + ": " + std::strerror(errno));
  }
  if (st.st_size == 0) return Status::NotFound("store file " + data_path + " is empty (0 bytes)");
  auto damaged = [&](const std::string& why) {
    return Status::Error("store file " + data_path + " is damaged: " + why);
  };

  // The two meta pages; the page size is the first one's to say.
  uint8_t meta[2][kHeader + kMetaSize];
  uint32_t page_size = 0;
  for (int i = 0; i < 2; ++i) {
    off_t offset = i == 0 ? 0 : page_size;
    if (::pread(fd.get(), meta[i], sizeof meta[i], offset) !=
        static_cast<ssize_t>(sizeof meta[i])) {
      return damaged("it is " + std::to_string(st.st_size) + " bytes, too short for meta page " +
                     std::to_string(i));
    }
    const uint8_t* m = meta[i] + kHeader;
    if (!(U16(meta[i] + 10) & kMeta) || U32(m) != kMagic || U32(m + 4) != kDataVersion) {
      return damaged("meta page " + std::to_string(i) + " is not an LMDB 0.9 meta page");
    }
    if (i == 0) {
      page_size = ReadTree(m + kTreeOffset).pad;
      if (page_size < 512 || page_size > 65536 || (page_size & (page_size - 1)) != 0) {
        return damaged("meta page 0 gives a page size of " + std::to_string(page_size));
      }
    }
  }
  const uint8_t* newer =
      (U64(meta[1] + kHeader + kTxnOffset) > U64(meta[0] + kHeader + kTxnOffset) ? meta[1]
                                                                                 : meta[0]) +
      kHeader;
  StoreFileFacts facts;
  facts.file_bytes = static_cast<uint64_t>(st.st_size);
  facts.page_size = page_size;
  uint64_t last_page = U64(newer + kLastPageOffset);
  uint64_t file_pages = facts.file_bytes / page_size;
  // The file may end before the last page when the pages past its end are
  // free (LMDB writes them when it reuses them); what the trees reach must
  // all be inside it.
  Walker walker(fd.get(), data_path, page_size, file_pages, std::min(file_pages, last_page + 1));
  Tree free_table = ReadTree(newer + kTreeOffset);
  Tree main_table = ReadTree(newer + kTreeOffset + kTreeSize);
  if (Status s = walker.WalkTable("(free pages)", free_table, false, true); !s) return s;
  if (Status s = walker.WalkTable("(main)", main_table, true, false); !s) return s;
  facts.entries = walker.total().entries;
  return facts;
}

}  // namespace banger::core
