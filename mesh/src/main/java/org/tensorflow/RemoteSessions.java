package org.tensorflow;

import static org.tensorflow.internal.c_api.global.tensorflow.TF_CloseSession;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeleteDeviceList;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeleteSession;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeleteSessionOptions;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeviceListCount;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeviceListName;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_NewSession;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_NewSessionOptions;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_SessionListDevices;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_SetConfig;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_SetTarget;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.BytePointer;
import org.tensorflow.internal.c_api.TF_DeviceList;
import org.tensorflow.internal.c_api.TF_Session;
import org.tensorflow.internal.c_api.TF_SessionOptions;
import org.tensorflow.internal.c_api.TF_Status;
import org.tensorflow.proto.ConfigProto;

/**
 * Opens a {@link Session} on a TensorFlow server ({@code grpc://host:port}), and lists a session's
 * devices, which TensorFlow Java 1.1.0 has no public API for: its C API has {@code TF_SetTarget}
 * and {@code TF_SessionListDevices}, and {@code Session} has a package-private constructor taking
 * a native session. This is the one place neomesh reaches into TensorFlow's package (DESIGN
 * section 3 records the finding).
 */
public final class RemoteSessions {
  private RemoteSessions() {}

  public static Session connect(Graph graph, String target, ConfigProto config) {
    try (Graph.Reference ref = graph.ref()) {
      return new Session(graph, open(ref, target, config));
    }
  }

  /**
   * The full names of the devices a session on {@code target} ({@code ""}: this process) with
   * {@code config} sees, e.g. {@code /job:worker/replica:0/task:1/device:CPU:0}. On a cluster the
   * master asks every task (limit the tasks with {@code config}'s device filters).
   */
  public static List<String> listDevices(String target, ConfigProto config) {
    try (Graph graph = new Graph(); Graph.Reference ref = graph.ref(); TF_Status status = TF_Status.newStatus()) {
      TF_Session session = open(ref, target, config);
      try {
        TF_DeviceList list = TF_SessionListDevices(session, status);
        status.throwExceptionIfNotOK();
        try {
          List<String> names = new ArrayList<>();
          for (int i = 0; i < TF_DeviceListCount(list); i++) {
            BytePointer name = TF_DeviceListName(list, i, status);
            status.throwExceptionIfNotOK();
            names.add(name.getString());
          }
          return names;
        } finally {
          TF_DeleteDeviceList(list);
        }
      } finally {
        try (TF_Status closing = TF_Status.newStatus()) {
          TF_CloseSession(session, closing);
          TF_DeleteSession(session, closing);
        }
      }
    }
  }

  private static TF_Session open(Graph.Reference graph, String target, ConfigProto config) {
    TF_SessionOptions options = TF_NewSessionOptions();
    try (TF_Status status = TF_Status.newStatus()) {
      if (!target.isEmpty()) {
        TF_SetTarget(options, target);
      }
      byte[] bytes = config.toByteArray();
      try (BytePointer p = new BytePointer(bytes)) {
        TF_SetConfig(options, p, bytes.length, status);
        status.throwExceptionIfNotOK();
      }
      TF_Session session = TF_NewSession(graph.nativeHandle(), options, status);
      status.throwExceptionIfNotOK();
      return session;
    } finally {
      TF_DeleteSessionOptions(options);
    }
  }
}
