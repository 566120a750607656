package ztrace.jsse;

import net.bytebuddy.asm.Advice;
import ztrace.jsse.boot.Handoff;

/**
 * Inlined at the start of SSLSocketImpl.AppOutputStream.write(byte[], int, int): the bytes
 * are handed over before they are encrypted and sent (a write that then fails still counts).
 */
final class SocketWrite {
  private SocketWrite() {}

  @Advice.OnMethodEnter(suppress = Throwable.class)
  static void enter(@Advice.FieldValue("this$0") Object socket, @Advice.Argument(0) byte[] b,
      @Advice.Argument(1) int off, @Advice.Argument(2) int len) {
    Handoff.socketPlaintext(socket, true, b, off, len);
  }
}
