// gRPC Java peer of the ztrace end-to-end tests (Debian grpc-java on Netty). The same service
// and client steps as peers/grpc-go/main.go, from peers/grpc-echo.proto (classes generated
// by protoc with grpc_java_plugin when the tests build this peer).
//
//   java Peer server PORT
//   java Peer client PORT STEP...   (unary:<req> | stream:<req> | bidi:<k> | wait:<file>)
import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Iterator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import ztrace.e2e.EchoGrpc;
import ztrace.e2e.Msg;

public class Peer {
  static Msg msg(String s) {
    return Msg.newBuilder().setData(ByteString.copyFrom(s, StandardCharsets.UTF_8)).build();
  }

  static Status failure(String spec) {
    String[] parts = spec.split(":", 2);
    return Status.fromCodeValue(Integer.parseInt(parts[0]))
        .withDescription(parts.length > 1 ? parts[1] : "failed on purpose");
  }

  static class EchoService extends EchoGrpc.EchoImplBase {
    @Override
    public void unary(Msg request, StreamObserver<Msg> out) {
      String req = request.getData().toStringUtf8();
      if (req.startsWith("fail:")) {
        out.onError(failure(req.substring(5)).asRuntimeException());
        return;
      }
      out.onNext(msg("echo " + (req.startsWith("ok:") ? req.substring(3) : req)));
      out.onCompleted();
    }

    @Override
    public void serverStream(Msg request, StreamObserver<Msg> out) {
      String[] parts = request.getData().toStringUtf8().split(":fail:", 2);
      int n = Integer.parseInt(parts[0]);
      for (int i = 0; i < n; i++) {
        out.onNext(msg("item " + i));
        try {
          Thread.sleep(5);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      if (parts.length > 1) {
        out.onError(failure(parts[1]).asRuntimeException());
      } else {
        out.onCompleted();
      }
    }

    @Override
    public StreamObserver<Msg> bidi(StreamObserver<Msg> out) {
      return new StreamObserver<Msg>() {
        public void onNext(Msg m) { out.onNext(m); }
        public void onError(Throwable t) {}
        public void onCompleted() { out.onCompleted(); }
      };
    }
  }

  static int code(Throwable t) {
    return t == null ? 0 : Status.fromThrowable(t).getCode().value();
  }

  static void step(ManagedChannel channel, String step) throws Exception {
    int colon = step.indexOf(':');
    String kind = colon < 0 ? step : step.substring(0, colon);
    String arg = colon < 0 ? "" : step.substring(colon + 1);
    if (kind.equals("wait")) {
      System.out.println("waiting");
      while (!Files.exists(Paths.get(arg))) Thread.sleep(20);
      return;
    }
    int msgs = 0;
    Throwable error = null;
    if (kind.equals("unary") || kind.equals("stream")) {
      EchoGrpc.EchoBlockingStub stub =
          EchoGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS);
      try {
        if (kind.equals("unary")) {
          stub.unary(msg(arg));
          msgs = 1;
        } else {
          Iterator<Msg> it = stub.serverStream(msg(arg));
          while (it.hasNext()) {
            it.next();
            msgs++;
          }
        }
      } catch (StatusRuntimeException e) {
        error = e;
      }
    } else if (kind.equals("bidi")) {
      int k = Integer.parseInt(arg);
      CompletableFuture<Throwable> done = new CompletableFuture<>();
      int[] received = {0};
      StreamObserver<Msg>[] send = new StreamObserver[1];
      send[0] = EchoGrpc.newStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS).bidi(
          new StreamObserver<Msg>() {
            public void onNext(Msg m) {
              received[0]++;
              if (received[0] < k) {
                send[0].onNext(msg("ping " + received[0]));
              } else {
                send[0].onCompleted();
              }
            }
            public void onError(Throwable t) { done.complete(t); }
            public void onCompleted() { done.complete(null); }
          });
      send[0].onNext(msg("ping 0"));
      error = done.get(20, TimeUnit.SECONDS);
      msgs = received[0];
    } else {
      throw new IllegalArgumentException("unknown step " + step);
    }
    System.out.println(kind + " code=" + code(error) + " msgs=" + msgs);
  }

  public static void main(String[] a) throws Exception {
    int port = Integer.parseInt(a[1]);
    if (a[0].equals("server")) {
      Server s = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
                     .addService(new EchoService())
                     .build()
                     .start();
      System.out.println("listening " + port);
      s.awaitTermination();
      return;
    }
    ManagedChannel channel =
        NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
    for (int i = 2; i < a.length; i++) step(channel, a[i]);
    channel.shutdownNow();
    channel.awaitTermination(5, TimeUnit.SECONDS);
  }
}
