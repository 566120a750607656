# bpf_object(<name> <src.bpf.c>)
# Compiles a CO-RE BPF program with clang -target bpf, generates a bpftool skeleton
# (<name>.skel.h) and exposes it as the INTERFACE target <name>_skel.
# vmlinux.h is dumped once from the build host's BTF (VMLINUX_BTF may name another kernel's);
# CO-RE relocations make the resulting object load on any kernel >= 5.8 with BTF.
find_program(BPFTOOL bpftool PATHS /usr/sbin /usr/bin REQUIRED)
find_program(BPF_CLANG NAMES clang-19 clang REQUIRED)
find_package(Python3 REQUIRED COMPONENTS Interpreter)

# bpf_tracing.h reads syscall arguments per architecture.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(BPF_TARGET_ARCH arm64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(ppc64le|powerpc64le)$")
  set(BPF_TARGET_ARCH powerpc)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^s390x$")
  set(BPF_TARGET_ARCH s390)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^riscv64$")
  set(BPF_TARGET_ARCH riscv)
else()
  message(FATAL_ERROR "BPF: no __TARGET_ARCH for processor ${CMAKE_SYSTEM_PROCESSOR}")
endif()

# Stack budget per call chain (program + functions + bpf_loop callbacks): the verifier's 512
# bytes less headroom for the next compiler. Checked on every object at build time.
set(BPF_STACK_BUDGET_BYTES 448 CACHE STRING "Largest combined BPF stack of one call chain")

set(BPF_GEN_DIR ${CMAKE_BINARY_DIR}/bpf_gen)
file(MAKE_DIRECTORY ${BPF_GEN_DIR})

set(VMLINUX_BTF /sys/kernel/btf/vmlinux CACHE FILEPATH "BTF used to generate vmlinux.h")
add_custom_command(
  OUTPUT ${BPF_GEN_DIR}/vmlinux.h
  COMMAND ${BPFTOOL} btf dump file ${VMLINUX_BTF} format c > ${BPF_GEN_DIR}/vmlinux.h
  COMMENT "Generating vmlinux.h from ${VMLINUX_BTF}"
  VERBATIM)
add_custom_target(vmlinux_h DEPENDS ${BPF_GEN_DIR}/vmlinux.h)

function(bpf_object name src)
  set(obj ${BPF_GEN_DIR}/${name}.bpf.o)
  set(skel ${BPF_GEN_DIR}/${name}.skel.h)
  file(GLOB bpf_headers CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/bpf/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${BPF_TARGET_ARCH} -Wall -Werror
            -Wno-unused-function -I${BPF_GEN_DIR} -I${CMAKE_SOURCE_DIR} -c ${src} -o ${obj}
    DEPENDS ${src} ${bpf_headers} ${BPF_GEN_DIR}/vmlinux.h
    COMMENT "BPF ${name}"
    VERBATIM)
  # The skeleton depends on the stack report, so a chain over budget stops the build.
  set(stack_report ${BPF_GEN_DIR}/${name}.stack.tsv)
  add_custom_command(
    OUTPUT ${stack_report}
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tools/bpf_stack_budget.py
            --budget ${BPF_STACK_BUDGET_BYTES} --report ${stack_report} ${obj}
    DEPENDS ${obj} ${CMAKE_SOURCE_DIR}/tools/bpf_stack_budget.py
    COMMENT "BPF stack budget ${name}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
    DEPENDS ${obj} ${stack_report}
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${BPF_GEN_DIR})
endfunction()

# Every BPF header compiles on its own (it includes what it uses, settings.bpf.h included):
# a header that only compiles after another is a hidden order between files.
function(bpf_headers_stand_alone)
  file(GLOB headers CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/bpf/*.bpf.h)
  set(stamps)
  foreach(header ${headers})
    get_filename_component(header_name ${header} NAME)
    set(stamp ${BPF_GEN_DIR}/standalone/${header_name}.ok)
    add_custom_command(
      OUTPUT ${stamp}
      COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${BPF_TARGET_ARCH} -Wall -Werror
              -Wno-unused-function -I${BPF_GEN_DIR} -I${CMAKE_SOURCE_DIR} -fsyntax-only
              -include ${header} -x c /dev/null
      COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
      DEPENDS ${header} ${BPF_GEN_DIR}/vmlinux.h
      COMMENT "BPF header stands alone: ${header_name}"
      VERBATIM)
    list(APPEND stamps ${stamp})
  endforeach()
  file(MAKE_DIRECTORY ${BPF_GEN_DIR}/standalone)
  add_custom_target(bpf_headers_standalone ALL DEPENDS ${stamps})
endfunction()
