#!/usr/bin/env python3
"""Checks the BPF stack budget of compiled objects, with no kernel.

The verifier rejects a program when the combined stack of one call chain (the program, the
functions it calls, global ones included, and the callbacks it hands to bpf_loop) passes 512
bytes. Frame sizes move with the compiler, so this reads them from the object itself: the
deepest r10-relative access of each function, rounded to 16 bytes as the kernel does for JITed
programs (kernel/bpf/verifier.c, round_up_stack_depth). A chain over the budget fails the build
and is named.

usage: bpf_stack_budget.py [--budget N] [--report FILE] OBJECT.bpf.o...
"""
import argparse
import struct
import sys

STACK_LIMIT_BYTES = 512
DEFAULT_HEADROOM_BYTES = 64

SHF_EXECINSTR = 0x4
SHT_SYMTAB, SHT_REL = 2, 9
STT_FUNC, STT_SECTION = 2, 3

BPF_LD_IMM64 = 0x18
BPF_CALL = 0x85
BPF_PSEUDO_CALL = 1
BPF_MOV64_X = 0xBF
BPF_ADD64_K = 0x07
FRAME_POINTER = 10


class Elf:
    """Just enough of an ELF64 little-endian relocatable object for BPF."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        if self.data[:4] != b"\x7fELF" or self.data[4] != 2 or self.data[5] != 1:
            raise ValueError(f"{path}: not a 64-bit little-endian ELF object")
        shoff, = struct.unpack_from("<Q", self.data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", self.data, 0x3A)
        self.sections = []
        for i in range(shnum):
            name, type_, flags, _, offset, size, link, info, _, entsize = struct.unpack_from(
                "<IIQQQQIIQQ", self.data, shoff + i * shentsize)
            self.sections.append(dict(name_off=name, type=type_, flags=flags, offset=offset,
                                      size=size, link=link, info=info, entsize=entsize))
        names = self.sections[shstrndx]
        for s in self.sections:
            s["name"] = self._string(names, s["name_off"])
        self.symbols = self._read_symbols()

    def _string(self, table, offset):
        start = table["offset"] + offset
        return self.data[start:self.data.index(b"\0", start)].decode()

    def _read_symbols(self):
        symtab = next(s for s in self.sections if s["type"] == SHT_SYMTAB)
        strtab = self.sections[symtab["link"]]
        symbols = []
        for i in range(symtab["size"] // 24):
            name, info, _, shndx, value, size = struct.unpack_from(
                "<IBBHQQ", self.data, symtab["offset"] + i * 24)
            symbols.append(dict(name=self._string(strtab, name), type=info & 0xF,
                                shndx=shndx, value=value, size=size))
        return symbols

    def relocations(self, section_index):
        """Relocations that apply to one section: {byte offset: symbol}."""
        result = {}
        for s in self.sections:
            if s["type"] == SHT_REL and s["info"] == section_index:
                for i in range(s["size"] // 16):
                    offset, info = struct.unpack_from("<QQ", self.data, s["offset"] + i * 16)
                    result[offset] = self.symbols[info >> 32]
        return result


def round_frame(depth):
    return (depth + 15) // 16 * 16


class Function:
    def __init__(self, name, section_index, section_name, start, size):
        self.name, self.section_index, self.section_name = name, section_index, section_name
        self.start, self.size = start, size
        self.frame_bytes = 0
        self.callees = []  # (section index, byte offset) of called functions and callbacks


def scan_function(elf, fn, relocations):
    """Frame size and callees of one function, from its instructions."""
    code = elf.data[elf.sections[fn.section_index]["offset"]:][fn.start:fn.start + fn.size]
    frame_offset = {}  # register -> offset from r10 it holds (r1 = r10; r1 += -N)
    deepest = 0
    pc = 0
    while pc + 8 <= len(code):
        opcode, regs, off, imm = struct.unpack_from("<BBhi", code, pc)
        dst, src = regs & 0xF, regs >> 4
        at = fn.start + pc
        cls = opcode & 0x07
        if opcode == BPF_LD_IMM64:
            # A function's address (a bpf_loop callback) is a 64-bit load relocated to it.
            sym = relocations.get(at)
            if sym and sym["type"] in (STT_FUNC, STT_SECTION) and \
                    elf.sections[sym["shndx"]]["flags"] & SHF_EXECINSTR:
                target = sym["value"] + (imm if sym["type"] == STT_SECTION else 0)
                fn.callees.append((sym["shndx"], target))
            frame_offset.pop(dst, None)
            pc += 16
            continue
        if opcode == BPF_CALL and src == BPF_PSEUDO_CALL:
            sym = relocations.get(at)
            if sym is None:
                fn.callees.append((fn.section_index, at + (imm + 1) * 8))
            elif sym["type"] == STT_SECTION:
                fn.callees.append((sym["shndx"], (imm + 1) * 8))
            else:
                fn.callees.append((sym["shndx"], sym["value"]))
        elif cls == 0x01 and (src == FRAME_POINTER or src in frame_offset):  # LDX
            deepest = max(deepest, -(frame_offset.get(src, 0) + off))
        elif cls in (0x02, 0x03) and (dst == FRAME_POINTER or dst in frame_offset):  # ST, STX
            deepest = max(deepest, -(frame_offset.get(dst, 0) + off))
        if opcode == BPF_MOV64_X and src == FRAME_POINTER:
            frame_offset[dst] = 0
        elif opcode == BPF_ADD64_K and dst in frame_offset:
            frame_offset[dst] += imm
            deepest = max(deepest, -frame_offset[dst])
        elif cls in (0x04, 0x07, 0x01) and dst in frame_offset and \
                not (opcode == BPF_MOV64_X and src == FRAME_POINTER):
            del frame_offset[dst]  # any other write to the register
        if opcode == BPF_CALL:
            for r in range(0, 6):
                frame_offset.pop(r, None)
        pc += 8
    fn.frame_bytes = round_frame(deepest)


def functions_of(elf):
    functions = {}
    for sym in elf.symbols:
        if sym["type"] != STT_FUNC or sym["shndx"] >= len(elf.sections):
            continue
        section = elf.sections[sym["shndx"]]
        if not section["flags"] & SHF_EXECINSTR:
            continue
        functions[(sym["shndx"], sym["value"])] = Function(
            sym["name"], sym["shndx"], section["name"], sym["value"], sym["size"])
    relocations_by_section = {}
    for fn in functions.values():
        if fn.section_index not in relocations_by_section:
            relocations_by_section[fn.section_index] = elf.relocations(fn.section_index)
        scan_function(elf, fn, relocations_by_section[fn.section_index])
    return functions


def deepest_chain(functions, fn, seen=()):
    """(bytes, [names]) of the deepest call chain that starts at fn."""
    best = (0, [])
    for key in fn.callees:
        callee = functions.get(key)
        if callee is None or callee.name in seen:
            continue
        best = max(best, deepest_chain(functions, callee, seen + (fn.name,)),
                   key=lambda chain: chain[0])
    return fn.frame_bytes + best[0], [fn.name] + best[1]


def check(path, budget, report):
    elf = Elf(path)
    functions = functions_of(elf)
    programs = sorted((f for f in functions.values() if f.section_name != ".text"),
                      key=lambda f: f.name)
    over = []
    for prog in programs:
        depth, chain = deepest_chain(functions, prog)
        frames = " + ".join(f"{name} {functions_by_name(functions, name).frame_bytes}"
                            for name in chain)
        report.append(f"{path.rsplit('/', 1)[-1]}\t{prog.name}\t{depth}\t{frames}")
        if depth > budget:
            over.append(f"{path}: program '{prog.name}' has a call chain of {depth} bytes of "
                        f"stack ({frames}), over the budget of {budget} (the verifier's "
                        f"limit is {STACK_LIMIT_BYTES}): move large locals to a per-CPU "
                        f"scratch map")
    return over


def functions_by_name(functions, name):
    return next(f for f in functions.values() if f.name == name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int,
                        default=STACK_LIMIT_BYTES - DEFAULT_HEADROOM_BYTES)
    parser.add_argument("--report", help="write the per-program table here")
    parser.add_argument("objects", nargs="+")
    args = parser.parse_args()
    report, over = [], []
    for path in args.objects:
        try:
            over += check(path, args.budget, report)
        except (OSError, ValueError, StopIteration) as e:
            print(f"error: {path}: cannot read the object: {e}", file=sys.stderr)
            return 2
    table = "object\tprogram\tstack bytes\tdeepest chain\n" + "\n".join(report) + "\n"
    if args.report:
        with open(args.report, "w") as f:
            f.write(table)
    for line in over:
        print(f"error: {line}", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
