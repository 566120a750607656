package ztrace.jsse;

import net.bytebuddy.asm.Advice;
import ztrace.jsse.boot.Handoff;

/** Inlined at the end of SSLSocketImpl.AppInputStream.read(byte[], int, int). */
final class SocketRead {
  private SocketRead() {}

  @Advice.OnMethodExit(suppress = Throwable.class)
  static void exit(@Advice.FieldValue("this$0") Object socket, @Advice.Argument(0) byte[] b,
      @Advice.Argument(1) int off, @Advice.Return int n) {
    Handoff.socketPlaintext(socket, false, b, off, n);
  }
}
