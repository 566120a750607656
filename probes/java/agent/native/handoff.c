// The native half of ztrace.jsse.boot.Handoff: one ioctl that carries a TLS record's plaintext
// to ztrace. The ioctl goes to fd -1, so the kernel fails it at once (EBADF) and nothing in
// the process changes; ztrace's BPF program on the sys_enter_ioctl tracepoint reads the
// descriptor before that (bpf/openssl_probes.bpf.c, java_tls_handoff). The calling thread and
// the tracepoint's clock give the span its thread (in-process linking) and timestamp.
#include <jni.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpf/java_tls.h"

// The socket fd under a java.net.Socket: a layered SSLSocket's underlying socket (`self` of
// BaseSSLSocketImpl), its SocketImpl (`impl`; a plain Socket's is a SocksSocketImpl whose
// `delegate` holds the fd), the impl's FileDescriptor, its int. JNI field access ignores
// Java's access checks; a field a JDK does not have gives -1.
static jfieldID self_field, impl_field, delegate_field, fd_object_field, fd_int_field;
static jclass delegating_class;  // global reference
static int fields_state;         // 0: not looked up, 1: found, -1: missing

static jfieldID field(JNIEnv* env, const char* cls, const char* name, const char* sig) {
  jclass c = (*env)->FindClass(env, cls);
  if (!c) {
    (*env)->ExceptionClear(env);
    return NULL;
  }
  jfieldID id = (*env)->GetFieldID(env, c, name, sig);
  if (!id) (*env)->ExceptionClear(env);
  (*env)->DeleteLocalRef(env, c);
  return id;
}

static int socket_fd(JNIEnv* env, jobject socket) {
  if (fields_state == 0) {
    self_field = field(env, "sun/security/ssl/BaseSSLSocketImpl", "self", "Ljava/net/Socket;");
    impl_field = field(env, "java/net/Socket", "impl", "Ljava/net/SocketImpl;");
    delegate_field =
        field(env, "java/net/DelegatingSocketImpl", "delegate", "Ljava/net/SocketImpl;");
    jclass delegating = (*env)->FindClass(env, "java/net/DelegatingSocketImpl");
    if (delegating) {
      delegating_class = (*env)->NewGlobalRef(env, delegating);
      (*env)->DeleteLocalRef(env, delegating);
    } else {
      (*env)->ExceptionClear(env);
    }
    fd_object_field = field(env, "java/net/SocketImpl", "fd", "Ljava/io/FileDescriptor;");
    fd_int_field = field(env, "java/io/FileDescriptor", "fd", "I");
    fields_state = impl_field && fd_object_field && fd_int_field ? 1 : -1;
  }
  if (fields_state < 0 || !socket) return -1;
  jobject self = self_field ? (*env)->GetObjectField(env, socket, self_field) : NULL;
  jobject impl = (*env)->GetObjectField(env, self ? self : socket, impl_field);
  if (impl && delegate_field && delegating_class &&
      (*env)->IsInstanceOf(env, impl, delegating_class)) {
    jobject inner = (*env)->GetObjectField(env, impl, delegate_field);
    (*env)->DeleteLocalRef(env, impl);
    impl = inner;
  }
  jobject fd_object = impl ? (*env)->GetObjectField(env, impl, fd_object_field) : NULL;
  int fd = fd_object ? (*env)->GetIntField(env, fd_object, fd_int_field) : -1;
  if (fd_object) (*env)->DeleteLocalRef(env, fd_object);
  if (impl) (*env)->DeleteLocalRef(env, impl);
  if (self) (*env)->DeleteLocalRef(env, self);
  return fd;
}

JNIEXPORT void JNICALL Java_ztrace_jsse_boot_Handoff_send(JNIEnv* env, jclass cls, jobject socket,
                                                          jlong engine_id, jint flags,
                                                          jbyteArray data, jint offset,
                                                          jint captured, jint total) {
  (void)cls;
  uint8_t bytes[ZT_JAVA_TLS_CAPTURE_BYTES];
  if (captured < 0 || captured > (jint)sizeof(bytes) || total < captured) return;
  struct zt_java_tls desc = {.magic = ZT_JAVA_TLS_MAGIC,
                             .buf = (uint64_t)(uintptr_t)bytes,
                             .captured = (uint32_t)captured,
                             .total = (uint32_t)total,
                             .engine = (uint64_t)engine_id,
                             .flags = (uint32_t)flags,
                             .fd = -1};
  // An SSLSocket whose fd is not found still goes: the kernel counts it (fd_unknown).
  if (socket) desc.fd = socket_fd(env, socket);
  if (captured > 0) {
    (*env)->GetByteArrayRegion(env, data, offset, captured, (jbyte*)bytes);
    if ((*env)->ExceptionCheck(env)) return;  // the Java caller catches it
  }
  syscall(SYS_ioctl, -1, ZT_JAVA_TLS_IOCTL, &desc);
}
