#include "symbolizer/go_binary.h"

namespace ztrace::symbolizer {

Result<std::shared_ptr<const GoBinary>> GoBinary::analyze(const std::string& path) {
  using R = Result<std::shared_ptr<const GoBinary>>;
  auto elf = ElfFile::open(path);
  if (!elf) return R::failure(elf.reason());
  return analyze(std::move(elf).value(), path);
}

std::string GoBinary::build_id_of(const ElfFile& elf) {
  std::string id = elf.gnu_build_id();
  return id.empty() ? elf.go_build_id() : id;
}

Result<std::shared_ptr<const GoBinary>> GoBinary::analyze(std::shared_ptr<const ElfFile> elf,
                                                          const std::string& path) {
  using R = Result<std::shared_ptr<const GoBinary>>;
  auto info = read_go_buildinfo(*elf);
  if (!info) return R::failure(info.reason());
  auto funcs = GoFuncTable::read(*elf);
  if (!funcs) return R::failure(funcs.reason());
  auto bin = std::shared_ptr<GoBinary>(new GoBinary());
  bin->elf_ = std::move(elf);
  bin->buildinfo_ = std::move(info).value();
  bin->functions_ = std::move(funcs).value();
  bin->offsets_ = resolve_go_offsets(path, bin->buildinfo_);
  bin->build_id_ = build_id_of(*bin->elf_);
  return std::shared_ptr<const GoBinary>(std::move(bin));
}

std::optional<GoFunction> GoBinary::find_function(std::string_view name) const {
  if (auto f = functions_.find(name)) return f;
  if (functions_.ambiguous().count(std::string(name))) return std::nullopt;
  if (auto s = elf_->find_symbol(name)) return GoFunction{s->value, s->size};
  return std::nullopt;
}

Result<FunctionSites> GoBinary::sites(std::string_view name) const {
  using R = Result<FunctionSites>;
  auto fn = find_function(name);
  if (!fn && functions_.ambiguous().count(std::string(name))) {
    return R::failure("symbol " + std::string(name) + " is ambiguous (function and ABI wrapper)");
  }
  if (!fn) return R::failure("symbol " + std::string(name) + " not found");
  const std::vector<uint8_t> code = elf_->code_at_vaddr(fn->entry, fn->size);
  auto file_offset = elf_->vaddr_to_offset(fn->entry);
  if (code.empty() || !file_offset) return R::failure(std::string(name) + ": code not in the file");
  auto rets = find_ret_offsets(code);
  if (!rets) return R::failure(std::string(name) + ": " + rets.reason());
  FunctionSites s;
  s.entry_vaddr = fn->entry;
  s.entry_file_offset = *file_offset;
  s.entry_site = choose_entry_site(code);
  for (uint64_t r : *rets) s.ret_file_offsets.push_back(*file_offset + r);
  return s;
}

Result<CopyLengthSite> GoBinary::copy_length_site(std::string_view name) const {
  using R = Result<CopyLengthSite>;
  auto fn = find_function(name);
  auto memmove = find_function("runtime.memmove");
  if (!fn || !memmove) return R::failure(std::string(name) + " or runtime.memmove not found");
  const std::vector<uint8_t> code = elf_->code_at_vaddr(fn->entry, fn->size);
  auto file_offset = elf_->vaddr_to_offset(fn->entry);
  if (code.empty() || !file_offset) return R::failure(std::string(name) + ": code not in the file");
  auto site = find_copy_length_site(code, fn->entry, memmove->entry);
  if (!site) return R::failure(std::string(name) + ": " + site.reason());
  site->offset += *file_offset;
  return site;
}

Result<uint64_t> GoBinary::nonnil_site(std::string_view name, Reg tested) const {
  using R = Result<uint64_t>;
  auto fn = find_function(name);
  if (!fn) return R::failure(std::string(name) + " not found");
  const std::vector<uint8_t> code = elf_->code_at_vaddr(fn->entry, fn->size);
  auto file_offset = elf_->vaddr_to_offset(fn->entry);
  if (code.empty() || !file_offset) return R::failure(std::string(name) + ": code not in the file");
  auto site = find_nonnil_site(code, tested);
  if (!site) return R::failure(std::string(name) + ": " + site.reason());
  return *file_offset + *site;
}

}  // namespace ztrace::symbolizer
