package dev.retryd.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * RetryCoordinator answers "should I retry, and when?" from per-job state.
 * </pre>
 */
@javax.annotation.Generated(
    value = "by gRPC proto compiler",
    comments = "Source: retryd/v1/retryd.proto")
@io.grpc.stub.annotations.GrpcGenerated
public final class RetryCoordinatorGrpc {

  private RetryCoordinatorGrpc() {}

  public static final String SERVICE_NAME = "retryd.v1.RetryCoordinator";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.ReportFailureRequest,
      dev.retryd.v1.ReportFailureResponse> getReportFailureMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ReportFailure",
      requestType = dev.retryd.v1.ReportFailureRequest.class,
      responseType = dev.retryd.v1.ReportFailureResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.ReportFailureRequest,
      dev.retryd.v1.ReportFailureResponse> getReportFailureMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.ReportFailureRequest, dev.retryd.v1.ReportFailureResponse> getReportFailureMethod;
    if ((getReportFailureMethod = RetryCoordinatorGrpc.getReportFailureMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getReportFailureMethod = RetryCoordinatorGrpc.getReportFailureMethod) == null) {
          RetryCoordinatorGrpc.getReportFailureMethod = getReportFailureMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.ReportFailureRequest, dev.retryd.v1.ReportFailureResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ReportFailure"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ReportFailureRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ReportFailureResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("ReportFailure"))
              .build();
        }
      }
    }
    return getReportFailureMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.ReportSuccessRequest,
      dev.retryd.v1.ReportSuccessResponse> getReportSuccessMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ReportSuccess",
      requestType = dev.retryd.v1.ReportSuccessRequest.class,
      responseType = dev.retryd.v1.ReportSuccessResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.ReportSuccessRequest,
      dev.retryd.v1.ReportSuccessResponse> getReportSuccessMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.ReportSuccessRequest, dev.retryd.v1.ReportSuccessResponse> getReportSuccessMethod;
    if ((getReportSuccessMethod = RetryCoordinatorGrpc.getReportSuccessMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getReportSuccessMethod = RetryCoordinatorGrpc.getReportSuccessMethod) == null) {
          RetryCoordinatorGrpc.getReportSuccessMethod = getReportSuccessMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.ReportSuccessRequest, dev.retryd.v1.ReportSuccessResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ReportSuccess"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ReportSuccessRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ReportSuccessResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("ReportSuccess"))
              .build();
        }
      }
    }
    return getReportSuccessMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.GetJobRequest,
      dev.retryd.v1.GetJobResponse> getGetJobMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetJob",
      requestType = dev.retryd.v1.GetJobRequest.class,
      responseType = dev.retryd.v1.GetJobResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.GetJobRequest,
      dev.retryd.v1.GetJobResponse> getGetJobMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.GetJobRequest, dev.retryd.v1.GetJobResponse> getGetJobMethod;
    if ((getGetJobMethod = RetryCoordinatorGrpc.getGetJobMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getGetJobMethod = RetryCoordinatorGrpc.getGetJobMethod) == null) {
          RetryCoordinatorGrpc.getGetJobMethod = getGetJobMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.GetJobRequest, dev.retryd.v1.GetJobResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetJob"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.GetJobRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.GetJobResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("GetJob"))
              .build();
        }
      }
    }
    return getGetJobMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.ListJobsRequest,
      dev.retryd.v1.ListJobsResponse> getListJobsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListJobs",
      requestType = dev.retryd.v1.ListJobsRequest.class,
      responseType = dev.retryd.v1.ListJobsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.ListJobsRequest,
      dev.retryd.v1.ListJobsResponse> getListJobsMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.ListJobsRequest, dev.retryd.v1.ListJobsResponse> getListJobsMethod;
    if ((getListJobsMethod = RetryCoordinatorGrpc.getListJobsMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getListJobsMethod = RetryCoordinatorGrpc.getListJobsMethod) == null) {
          RetryCoordinatorGrpc.getListJobsMethod = getListJobsMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.ListJobsRequest, dev.retryd.v1.ListJobsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListJobs"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ListJobsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ListJobsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("ListJobs"))
              .build();
        }
      }
    }
    return getListJobsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.RetryJobRequest,
      dev.retryd.v1.RetryJobResponse> getRetryJobMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "RetryJob",
      requestType = dev.retryd.v1.RetryJobRequest.class,
      responseType = dev.retryd.v1.RetryJobResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.RetryJobRequest,
      dev.retryd.v1.RetryJobResponse> getRetryJobMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.RetryJobRequest, dev.retryd.v1.RetryJobResponse> getRetryJobMethod;
    if ((getRetryJobMethod = RetryCoordinatorGrpc.getRetryJobMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getRetryJobMethod = RetryCoordinatorGrpc.getRetryJobMethod) == null) {
          RetryCoordinatorGrpc.getRetryJobMethod = getRetryJobMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.RetryJobRequest, dev.retryd.v1.RetryJobResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "RetryJob"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.RetryJobRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.RetryJobResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("RetryJob"))
              .build();
        }
      }
    }
    return getRetryJobMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.CancelJobRequest,
      dev.retryd.v1.CancelJobResponse> getCancelJobMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "CancelJob",
      requestType = dev.retryd.v1.CancelJobRequest.class,
      responseType = dev.retryd.v1.CancelJobResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.CancelJobRequest,
      dev.retryd.v1.CancelJobResponse> getCancelJobMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.CancelJobRequest, dev.retryd.v1.CancelJobResponse> getCancelJobMethod;
    if ((getCancelJobMethod = RetryCoordinatorGrpc.getCancelJobMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getCancelJobMethod = RetryCoordinatorGrpc.getCancelJobMethod) == null) {
          RetryCoordinatorGrpc.getCancelJobMethod = getCancelJobMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.CancelJobRequest, dev.retryd.v1.CancelJobResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "CancelJob"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.CancelJobRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.CancelJobResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("CancelJob"))
              .build();
        }
      }
    }
    return getCancelJobMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.DeleteJobRequest,
      dev.retryd.v1.DeleteJobResponse> getDeleteJobMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "DeleteJob",
      requestType = dev.retryd.v1.DeleteJobRequest.class,
      responseType = dev.retryd.v1.DeleteJobResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.DeleteJobRequest,
      dev.retryd.v1.DeleteJobResponse> getDeleteJobMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.DeleteJobRequest, dev.retryd.v1.DeleteJobResponse> getDeleteJobMethod;
    if ((getDeleteJobMethod = RetryCoordinatorGrpc.getDeleteJobMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getDeleteJobMethod = RetryCoordinatorGrpc.getDeleteJobMethod) == null) {
          RetryCoordinatorGrpc.getDeleteJobMethod = getDeleteJobMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.DeleteJobRequest, dev.retryd.v1.DeleteJobResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "DeleteJob"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.DeleteJobRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.DeleteJobResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("DeleteJob"))
              .build();
        }
      }
    }
    return getDeleteJobMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.GetStatsRequest,
      dev.retryd.v1.GetStatsResponse> getGetStatsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetStats",
      requestType = dev.retryd.v1.GetStatsRequest.class,
      responseType = dev.retryd.v1.GetStatsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.GetStatsRequest,
      dev.retryd.v1.GetStatsResponse> getGetStatsMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.GetStatsRequest, dev.retryd.v1.GetStatsResponse> getGetStatsMethod;
    if ((getGetStatsMethod = RetryCoordinatorGrpc.getGetStatsMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getGetStatsMethod = RetryCoordinatorGrpc.getGetStatsMethod) == null) {
          RetryCoordinatorGrpc.getGetStatsMethod = getGetStatsMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.GetStatsRequest, dev.retryd.v1.GetStatsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetStats"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.GetStatsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.GetStatsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("GetStats"))
              .build();
        }
      }
    }
    return getGetStatsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.ExplainRequest,
      dev.retryd.v1.ExplainResponse> getExplainMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Explain",
      requestType = dev.retryd.v1.ExplainRequest.class,
      responseType = dev.retryd.v1.ExplainResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.ExplainRequest,
      dev.retryd.v1.ExplainResponse> getExplainMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.ExplainRequest, dev.retryd.v1.ExplainResponse> getExplainMethod;
    if ((getExplainMethod = RetryCoordinatorGrpc.getExplainMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getExplainMethod = RetryCoordinatorGrpc.getExplainMethod) == null) {
          RetryCoordinatorGrpc.getExplainMethod = getExplainMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.ExplainRequest, dev.retryd.v1.ExplainResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Explain"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ExplainRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ExplainResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("Explain"))
              .build();
        }
      }
    }
    return getExplainMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.StartPassRequest,
      dev.retryd.v1.StartPassResponse> getStartPassMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "StartPass",
      requestType = dev.retryd.v1.StartPassRequest.class,
      responseType = dev.retryd.v1.StartPassResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.StartPassRequest,
      dev.retryd.v1.StartPassResponse> getStartPassMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.StartPassRequest, dev.retryd.v1.StartPassResponse> getStartPassMethod;
    if ((getStartPassMethod = RetryCoordinatorGrpc.getStartPassMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getStartPassMethod = RetryCoordinatorGrpc.getStartPassMethod) == null) {
          RetryCoordinatorGrpc.getStartPassMethod = getStartPassMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.StartPassRequest, dev.retryd.v1.StartPassResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "StartPass"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.StartPassRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.StartPassResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("StartPass"))
              .build();
        }
      }
    }
    return getStartPassMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.EndPassRequest,
      dev.retryd.v1.EndPassResponse> getEndPassMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "EndPass",
      requestType = dev.retryd.v1.EndPassRequest.class,
      responseType = dev.retryd.v1.EndPassResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.EndPassRequest,
      dev.retryd.v1.EndPassResponse> getEndPassMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.EndPassRequest, dev.retryd.v1.EndPassResponse> getEndPassMethod;
    if ((getEndPassMethod = RetryCoordinatorGrpc.getEndPassMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getEndPassMethod = RetryCoordinatorGrpc.getEndPassMethod) == null) {
          RetryCoordinatorGrpc.getEndPassMethod = getEndPassMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.EndPassRequest, dev.retryd.v1.EndPassResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "EndPass"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.EndPassRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.EndPassResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("EndPass"))
              .build();
        }
      }
    }
    return getEndPassMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.GetBatchRequest,
      dev.retryd.v1.GetBatchResponse> getGetBatchMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetBatch",
      requestType = dev.retryd.v1.GetBatchRequest.class,
      responseType = dev.retryd.v1.GetBatchResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.GetBatchRequest,
      dev.retryd.v1.GetBatchResponse> getGetBatchMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.GetBatchRequest, dev.retryd.v1.GetBatchResponse> getGetBatchMethod;
    if ((getGetBatchMethod = RetryCoordinatorGrpc.getGetBatchMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getGetBatchMethod = RetryCoordinatorGrpc.getGetBatchMethod) == null) {
          RetryCoordinatorGrpc.getGetBatchMethod = getGetBatchMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.GetBatchRequest, dev.retryd.v1.GetBatchResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetBatch"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.GetBatchRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.GetBatchResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("GetBatch"))
              .build();
        }
      }
    }
    return getGetBatchMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.ListBudgetsRequest,
      dev.retryd.v1.ListBudgetsResponse> getListBudgetsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListBudgets",
      requestType = dev.retryd.v1.ListBudgetsRequest.class,
      responseType = dev.retryd.v1.ListBudgetsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.ListBudgetsRequest,
      dev.retryd.v1.ListBudgetsResponse> getListBudgetsMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.ListBudgetsRequest, dev.retryd.v1.ListBudgetsResponse> getListBudgetsMethod;
    if ((getListBudgetsMethod = RetryCoordinatorGrpc.getListBudgetsMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getListBudgetsMethod = RetryCoordinatorGrpc.getListBudgetsMethod) == null) {
          RetryCoordinatorGrpc.getListBudgetsMethod = getListBudgetsMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.ListBudgetsRequest, dev.retryd.v1.ListBudgetsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListBudgets"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ListBudgetsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ListBudgetsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("ListBudgets"))
              .build();
        }
      }
    }
    return getListBudgetsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.PauseRetriesRequest,
      dev.retryd.v1.PauseRetriesResponse> getPauseRetriesMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "PauseRetries",
      requestType = dev.retryd.v1.PauseRetriesRequest.class,
      responseType = dev.retryd.v1.PauseRetriesResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.PauseRetriesRequest,
      dev.retryd.v1.PauseRetriesResponse> getPauseRetriesMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.PauseRetriesRequest, dev.retryd.v1.PauseRetriesResponse> getPauseRetriesMethod;
    if ((getPauseRetriesMethod = RetryCoordinatorGrpc.getPauseRetriesMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getPauseRetriesMethod = RetryCoordinatorGrpc.getPauseRetriesMethod) == null) {
          RetryCoordinatorGrpc.getPauseRetriesMethod = getPauseRetriesMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.PauseRetriesRequest, dev.retryd.v1.PauseRetriesResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "PauseRetries"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.PauseRetriesRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.PauseRetriesResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("PauseRetries"))
              .build();
        }
      }
    }
    return getPauseRetriesMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.ResumeRetriesRequest,
      dev.retryd.v1.ResumeRetriesResponse> getResumeRetriesMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ResumeRetries",
      requestType = dev.retryd.v1.ResumeRetriesRequest.class,
      responseType = dev.retryd.v1.ResumeRetriesResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.ResumeRetriesRequest,
      dev.retryd.v1.ResumeRetriesResponse> getResumeRetriesMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.ResumeRetriesRequest, dev.retryd.v1.ResumeRetriesResponse> getResumeRetriesMethod;
    if ((getResumeRetriesMethod = RetryCoordinatorGrpc.getResumeRetriesMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getResumeRetriesMethod = RetryCoordinatorGrpc.getResumeRetriesMethod) == null) {
          RetryCoordinatorGrpc.getResumeRetriesMethod = getResumeRetriesMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.ResumeRetriesRequest, dev.retryd.v1.ResumeRetriesResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ResumeRetries"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ResumeRetriesRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ResumeRetriesResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("ResumeRetries"))
              .build();
        }
      }
    }
    return getResumeRetriesMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.ListPausesRequest,
      dev.retryd.v1.ListPausesResponse> getListPausesMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListPauses",
      requestType = dev.retryd.v1.ListPausesRequest.class,
      responseType = dev.retryd.v1.ListPausesResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.ListPausesRequest,
      dev.retryd.v1.ListPausesResponse> getListPausesMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.ListPausesRequest, dev.retryd.v1.ListPausesResponse> getListPausesMethod;
    if ((getListPausesMethod = RetryCoordinatorGrpc.getListPausesMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getListPausesMethod = RetryCoordinatorGrpc.getListPausesMethod) == null) {
          RetryCoordinatorGrpc.getListPausesMethod = getListPausesMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.ListPausesRequest, dev.retryd.v1.ListPausesResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListPauses"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ListPausesRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ListPausesResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("ListPauses"))
              .build();
        }
      }
    }
    return getListPausesMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.WatchEventsRequest,
      dev.retryd.v1.Event> getWatchEventsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "WatchEvents",
      requestType = dev.retryd.v1.WatchEventsRequest.class,
      responseType = dev.retryd.v1.Event.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.WatchEventsRequest,
      dev.retryd.v1.Event> getWatchEventsMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.WatchEventsRequest, dev.retryd.v1.Event> getWatchEventsMethod;
    if ((getWatchEventsMethod = RetryCoordinatorGrpc.getWatchEventsMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getWatchEventsMethod = RetryCoordinatorGrpc.getWatchEventsMethod) == null) {
          RetryCoordinatorGrpc.getWatchEventsMethod = getWatchEventsMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.WatchEventsRequest, dev.retryd.v1.Event>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "WatchEvents"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.WatchEventsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.Event.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("WatchEvents"))
              .build();
        }
      }
    }
    return getWatchEventsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.ClaimDueRequest,
      dev.retryd.v1.ClaimDueResponse> getClaimDueMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ClaimDue",
      requestType = dev.retryd.v1.ClaimDueRequest.class,
      responseType = dev.retryd.v1.ClaimDueResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.ClaimDueRequest,
      dev.retryd.v1.ClaimDueResponse> getClaimDueMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.ClaimDueRequest, dev.retryd.v1.ClaimDueResponse> getClaimDueMethod;
    if ((getClaimDueMethod = RetryCoordinatorGrpc.getClaimDueMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getClaimDueMethod = RetryCoordinatorGrpc.getClaimDueMethod) == null) {
          RetryCoordinatorGrpc.getClaimDueMethod = getClaimDueMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.ClaimDueRequest, dev.retryd.v1.ClaimDueResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ClaimDue"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ClaimDueRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ClaimDueResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("ClaimDue"))
              .build();
        }
      }
    }
    return getClaimDueMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.WatchDueRequest,
      dev.retryd.v1.DueJob> getWatchDueMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "WatchDue",
      requestType = dev.retryd.v1.WatchDueRequest.class,
      responseType = dev.retryd.v1.DueJob.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.WatchDueRequest,
      dev.retryd.v1.DueJob> getWatchDueMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.WatchDueRequest, dev.retryd.v1.DueJob> getWatchDueMethod;
    if ((getWatchDueMethod = RetryCoordinatorGrpc.getWatchDueMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getWatchDueMethod = RetryCoordinatorGrpc.getWatchDueMethod) == null) {
          RetryCoordinatorGrpc.getWatchDueMethod = getWatchDueMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.WatchDueRequest, dev.retryd.v1.DueJob>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "WatchDue"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.WatchDueRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.DueJob.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("WatchDue"))
              .build();
        }
      }
    }
    return getWatchDueMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.ExtendLeaseRequest,
      dev.retryd.v1.ExtendLeaseResponse> getExtendLeaseMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ExtendLease",
      requestType = dev.retryd.v1.ExtendLeaseRequest.class,
      responseType = dev.retryd.v1.ExtendLeaseResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.ExtendLeaseRequest,
      dev.retryd.v1.ExtendLeaseResponse> getExtendLeaseMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.ExtendLeaseRequest, dev.retryd.v1.ExtendLeaseResponse> getExtendLeaseMethod;
    if ((getExtendLeaseMethod = RetryCoordinatorGrpc.getExtendLeaseMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getExtendLeaseMethod = RetryCoordinatorGrpc.getExtendLeaseMethod) == null) {
          RetryCoordinatorGrpc.getExtendLeaseMethod = getExtendLeaseMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.ExtendLeaseRequest, dev.retryd.v1.ExtendLeaseResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ExtendLease"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ExtendLeaseRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ExtendLeaseResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("ExtendLease"))
              .build();
        }
      }
    }
    return getExtendLeaseMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.ReleaseJobRequest,
      dev.retryd.v1.ReleaseJobResponse> getReleaseJobMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ReleaseJob",
      requestType = dev.retryd.v1.ReleaseJobRequest.class,
      responseType = dev.retryd.v1.ReleaseJobResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.ReleaseJobRequest,
      dev.retryd.v1.ReleaseJobResponse> getReleaseJobMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.ReleaseJobRequest, dev.retryd.v1.ReleaseJobResponse> getReleaseJobMethod;
    if ((getReleaseJobMethod = RetryCoordinatorGrpc.getReleaseJobMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getReleaseJobMethod = RetryCoordinatorGrpc.getReleaseJobMethod) == null) {
          RetryCoordinatorGrpc.getReleaseJobMethod = getReleaseJobMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.ReleaseJobRequest, dev.retryd.v1.ReleaseJobResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ReleaseJob"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ReleaseJobRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ReleaseJobResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("ReleaseJob"))
              .build();
        }
      }
    }
    return getReleaseJobMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.retryd.v1.ListQueuesRequest,
      dev.retryd.v1.ListQueuesResponse> getListQueuesMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListQueues",
      requestType = dev.retryd.v1.ListQueuesRequest.class,
      responseType = dev.retryd.v1.ListQueuesResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.retryd.v1.ListQueuesRequest,
      dev.retryd.v1.ListQueuesResponse> getListQueuesMethod() {
    io.grpc.MethodDescriptor<dev.retryd.v1.ListQueuesRequest, dev.retryd.v1.ListQueuesResponse> getListQueuesMethod;
    if ((getListQueuesMethod = RetryCoordinatorGrpc.getListQueuesMethod) == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        if ((getListQueuesMethod = RetryCoordinatorGrpc.getListQueuesMethod) == null) {
          RetryCoordinatorGrpc.getListQueuesMethod = getListQueuesMethod =
              io.grpc.MethodDescriptor.<dev.retryd.v1.ListQueuesRequest, dev.retryd.v1.ListQueuesResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListQueues"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ListQueuesRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.retryd.v1.ListQueuesResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RetryCoordinatorMethodDescriptorSupplier("ListQueues"))
              .build();
        }
      }
    }
    return getListQueuesMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static RetryCoordinatorStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<RetryCoordinatorStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<RetryCoordinatorStub>() {
        @java.lang.Override
        public RetryCoordinatorStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new RetryCoordinatorStub(channel, callOptions);
        }
      };
    return RetryCoordinatorStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static RetryCoordinatorBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<RetryCoordinatorBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<RetryCoordinatorBlockingStub>() {
        @java.lang.Override
        public RetryCoordinatorBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new RetryCoordinatorBlockingStub(channel, callOptions);
        }
      };
    return RetryCoordinatorBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static RetryCoordinatorFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<RetryCoordinatorFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<RetryCoordinatorFutureStub>() {
        @java.lang.Override
        public RetryCoordinatorFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new RetryCoordinatorFutureStub(channel, callOptions);
        }
      };
    return RetryCoordinatorFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * RetryCoordinator answers "should I retry, and when?" from per-job state.
   * </pre>
   */
  public static abstract class RetryCoordinatorImplBase implements io.grpc.BindableService {

    /**
     * <pre>
     * Record a failed attempt and decide: retry after N, or give up because R.
     * </pre>
     */
    public void reportFailure(dev.retryd.v1.ReportFailureRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ReportFailureResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getReportFailureMethod(), responseObserver);
    }

    /**
     * <pre>
     * The job succeeded: its state is dropped.
     * </pre>
     */
    public void reportSuccess(dev.retryd.v1.ReportSuccessRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ReportSuccessResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getReportSuccessMethod(), responseObserver);
    }

    /**
     * <pre>
     * One job's state; NOT_FOUND if retryd holds none.
     * </pre>
     */
    public void getJob(dev.retryd.v1.GetJobRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.GetJobResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetJobMethod(), responseObserver);
    }

    /**
     * <pre>
     * Jobs filtered by state and job type, ordered by job_id, paginated.
     * </pre>
     */
    public void listJobs(dev.retryd.v1.ListJobsRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ListJobsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListJobsMethod(), responseObserver);
    }

    /**
     * <pre>
     * Manual retry of a dead, cancelled or retrying job: due now.
     * </pre>
     */
    public void retryJob(dev.retryd.v1.RetryJobRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.RetryJobResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getRetryJobMethod(), responseObserver);
    }

    /**
     * <pre>
     * Cancel a retrying job: its later failures get GIVE_UP / CANCELLED.
     * </pre>
     */
    public void cancelJob(dev.retryd.v1.CancelJobRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.CancelJobResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCancelJobMethod(), responseObserver);
    }

    /**
     * <pre>
     * Forget a job (e.g. purge a dead one).
     * </pre>
     */
    public void deleteJob(dev.retryd.v1.DeleteJobRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.DeleteJobResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getDeleteJobMethod(), responseObserver);
    }

    /**
     * <pre>
     * Counts per job type.
     * </pre>
     */
    public void getStats(dev.retryd.v1.GetStatsRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.GetStatsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetStatsMethod(), responseObserver);
    }

    /**
     * <pre>
     * Dry run: the decision ReportFailure would give, changing no state.
     * </pre>
     */
    public void explain(dev.retryd.v1.ExplainRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ExplainResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getExplainMethod(), responseObserver);
    }

    /**
     * <pre>
     * Batch runs in passes (docs/decisions.md, "Batches run in passes").
     * Registers the batch and its jobs on the first call (more job ids may be
     * added later) and opens the next pass.
     * </pre>
     */
    public void startPass(dev.retryd.v1.StartPassRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.StartPassResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getStartPassMethod(), responseObserver);
    }

    /**
     * <pre>
     * Closes the open pass: what follows, the pass's statistics, what to retry.
     * </pre>
     */
    public void endPass(dev.retryd.v1.EndPassRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.EndPassResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getEndPassMethod(), responseObserver);
    }

    /**
     * <pre>
     * Totals across passes and every pass's statistics.
     * </pre>
     */
    public void getBatch(dev.retryd.v1.GetBatchRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.GetBatchResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetBatchMethod(), responseObserver);
    }

    /**
     * <pre>
     * Retry budgets per target (docs/decisions.md, "Retry budgets per target"):
     * every configured target's, and every other target's once used.
     * </pre>
     */
    public void listBudgets(dev.retryd.v1.ListBudgetsRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ListBudgetsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListBudgetsMethod(), responseObserver);
    }

    /**
     * <pre>
     * Live operations (docs/operations.md). Pause the retries of a job type
     * or a target: its retryable failures get RETRY after the pause and use
     * up none of the job's retries. Admin token applies.
     * </pre>
     */
    public void pauseRetries(dev.retryd.v1.PauseRetriesRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.PauseRetriesResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getPauseRetriesMethod(), responseObserver);
    }

    /**
     * <pre>
     * End a pause now. Admin token applies.
     * </pre>
     */
    public void resumeRetries(dev.retryd.v1.ResumeRetriesRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ResumeRetriesResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getResumeRetriesMethod(), responseObserver);
    }

    /**
     * <pre>
     * The pauses in force.
     * </pre>
     */
    public void listPauses(dev.retryd.v1.ListPausesRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ListPausesResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListPausesMethod(), responseObserver);
    }

    /**
     * <pre>
     * Decisions and operator actions as they happen. A slow watcher never
     * slows decisions: what it missed is counted in the next event's dropped.
     * </pre>
     */
    public void watchEvents(dev.retryd.v1.WatchEventsRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.Event> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getWatchEventsMethod(), responseObserver);
    }

    /**
     * <pre>
     * Delivery (docs/delivery.md): a report with a payload parks the job, and
     * retryd hands it back when it is due. Due jobs of a queue, oldest due
     * first, each leased to this claimer alone until it settles or its lease
     * runs out.
     * </pre>
     */
    public void claimDue(dev.retryd.v1.ClaimDueRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ClaimDueResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getClaimDueMethod(), responseObserver);
    }

    /**
     * <pre>
     * The push form of ClaimDue: due jobs as they fall due, never more than
     * max_in_flight unsettled at once.
     * </pre>
     */
    public void watchDue(dev.retryd.v1.WatchDueRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.DueJob> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getWatchDueMethod(), responseObserver);
    }

    /**
     * <pre>
     * More time for a leased job: lease_until = now + lease.
     * </pre>
     */
    public void extendLease(dev.retryd.v1.ExtendLeaseRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ExtendLeaseResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getExtendLeaseMethod(), responseObserver);
    }

    /**
     * <pre>
     * Hand a leased job back unprocessed (no failure counted): due again
     * after delay.
     * </pre>
     */
    public void releaseJob(dev.retryd.v1.ReleaseJobRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ReleaseJobResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getReleaseJobMethod(), responseObserver);
    }

    /**
     * <pre>
     * Each queue's parked, due and leased jobs, and its oldest due job.
     * </pre>
     */
    public void listQueues(dev.retryd.v1.ListQueuesRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ListQueuesResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListQueuesMethod(), responseObserver);
    }

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
          .addMethod(
            getReportFailureMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.ReportFailureRequest,
                dev.retryd.v1.ReportFailureResponse>(
                  this, METHODID_REPORT_FAILURE)))
          .addMethod(
            getReportSuccessMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.ReportSuccessRequest,
                dev.retryd.v1.ReportSuccessResponse>(
                  this, METHODID_REPORT_SUCCESS)))
          .addMethod(
            getGetJobMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.GetJobRequest,
                dev.retryd.v1.GetJobResponse>(
                  this, METHODID_GET_JOB)))
          .addMethod(
            getListJobsMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.ListJobsRequest,
                dev.retryd.v1.ListJobsResponse>(
                  this, METHODID_LIST_JOBS)))
          .addMethod(
            getRetryJobMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.RetryJobRequest,
                dev.retryd.v1.RetryJobResponse>(
                  this, METHODID_RETRY_JOB)))
          .addMethod(
            getCancelJobMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.CancelJobRequest,
                dev.retryd.v1.CancelJobResponse>(
                  this, METHODID_CANCEL_JOB)))
          .addMethod(
            getDeleteJobMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.DeleteJobRequest,
                dev.retryd.v1.DeleteJobResponse>(
                  this, METHODID_DELETE_JOB)))
          .addMethod(
            getGetStatsMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.GetStatsRequest,
                dev.retryd.v1.GetStatsResponse>(
                  this, METHODID_GET_STATS)))
          .addMethod(
            getExplainMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.ExplainRequest,
                dev.retryd.v1.ExplainResponse>(
                  this, METHODID_EXPLAIN)))
          .addMethod(
            getStartPassMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.StartPassRequest,
                dev.retryd.v1.StartPassResponse>(
                  this, METHODID_START_PASS)))
          .addMethod(
            getEndPassMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.EndPassRequest,
                dev.retryd.v1.EndPassResponse>(
                  this, METHODID_END_PASS)))
          .addMethod(
            getGetBatchMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.GetBatchRequest,
                dev.retryd.v1.GetBatchResponse>(
                  this, METHODID_GET_BATCH)))
          .addMethod(
            getListBudgetsMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.ListBudgetsRequest,
                dev.retryd.v1.ListBudgetsResponse>(
                  this, METHODID_LIST_BUDGETS)))
          .addMethod(
            getPauseRetriesMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.PauseRetriesRequest,
                dev.retryd.v1.PauseRetriesResponse>(
                  this, METHODID_PAUSE_RETRIES)))
          .addMethod(
            getResumeRetriesMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.ResumeRetriesRequest,
                dev.retryd.v1.ResumeRetriesResponse>(
                  this, METHODID_RESUME_RETRIES)))
          .addMethod(
            getListPausesMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.ListPausesRequest,
                dev.retryd.v1.ListPausesResponse>(
                  this, METHODID_LIST_PAUSES)))
          .addMethod(
            getWatchEventsMethod(),
            io.grpc.stub.ServerCalls.asyncServerStreamingCall(
              new MethodHandlers<
                dev.retryd.v1.WatchEventsRequest,
                dev.retryd.v1.Event>(
                  this, METHODID_WATCH_EVENTS)))
          .addMethod(
            getClaimDueMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.ClaimDueRequest,
                dev.retryd.v1.ClaimDueResponse>(
                  this, METHODID_CLAIM_DUE)))
          .addMethod(
            getWatchDueMethod(),
            io.grpc.stub.ServerCalls.asyncServerStreamingCall(
              new MethodHandlers<
                dev.retryd.v1.WatchDueRequest,
                dev.retryd.v1.DueJob>(
                  this, METHODID_WATCH_DUE)))
          .addMethod(
            getExtendLeaseMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.ExtendLeaseRequest,
                dev.retryd.v1.ExtendLeaseResponse>(
                  this, METHODID_EXTEND_LEASE)))
          .addMethod(
            getReleaseJobMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.ReleaseJobRequest,
                dev.retryd.v1.ReleaseJobResponse>(
                  this, METHODID_RELEASE_JOB)))
          .addMethod(
            getListQueuesMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.retryd.v1.ListQueuesRequest,
                dev.retryd.v1.ListQueuesResponse>(
                  this, METHODID_LIST_QUEUES)))
          .build();
    }
  }

  /**
   * <pre>
   * RetryCoordinator answers "should I retry, and when?" from per-job state.
   * </pre>
   */
  public static final class RetryCoordinatorStub extends io.grpc.stub.AbstractAsyncStub<RetryCoordinatorStub> {
    private RetryCoordinatorStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected RetryCoordinatorStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new RetryCoordinatorStub(channel, callOptions);
    }

    /**
     * <pre>
     * Record a failed attempt and decide: retry after N, or give up because R.
     * </pre>
     */
    public void reportFailure(dev.retryd.v1.ReportFailureRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ReportFailureResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getReportFailureMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * The job succeeded: its state is dropped.
     * </pre>
     */
    public void reportSuccess(dev.retryd.v1.ReportSuccessRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ReportSuccessResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getReportSuccessMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * One job's state; NOT_FOUND if retryd holds none.
     * </pre>
     */
    public void getJob(dev.retryd.v1.GetJobRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.GetJobResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetJobMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Jobs filtered by state and job type, ordered by job_id, paginated.
     * </pre>
     */
    public void listJobs(dev.retryd.v1.ListJobsRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ListJobsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListJobsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Manual retry of a dead, cancelled or retrying job: due now.
     * </pre>
     */
    public void retryJob(dev.retryd.v1.RetryJobRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.RetryJobResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getRetryJobMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Cancel a retrying job: its later failures get GIVE_UP / CANCELLED.
     * </pre>
     */
    public void cancelJob(dev.retryd.v1.CancelJobRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.CancelJobResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCancelJobMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Forget a job (e.g. purge a dead one).
     * </pre>
     */
    public void deleteJob(dev.retryd.v1.DeleteJobRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.DeleteJobResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getDeleteJobMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Counts per job type.
     * </pre>
     */
    public void getStats(dev.retryd.v1.GetStatsRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.GetStatsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetStatsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Dry run: the decision ReportFailure would give, changing no state.
     * </pre>
     */
    public void explain(dev.retryd.v1.ExplainRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ExplainResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getExplainMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Batch runs in passes (docs/decisions.md, "Batches run in passes").
     * Registers the batch and its jobs on the first call (more job ids may be
     * added later) and opens the next pass.
     * </pre>
     */
    public void startPass(dev.retryd.v1.StartPassRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.StartPassResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getStartPassMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Closes the open pass: what follows, the pass's statistics, what to retry.
     * </pre>
     */
    public void endPass(dev.retryd.v1.EndPassRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.EndPassResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getEndPassMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Totals across passes and every pass's statistics.
     * </pre>
     */
    public void getBatch(dev.retryd.v1.GetBatchRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.GetBatchResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetBatchMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Retry budgets per target (docs/decisions.md, "Retry budgets per target"):
     * every configured target's, and every other target's once used.
     * </pre>
     */
    public void listBudgets(dev.retryd.v1.ListBudgetsRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ListBudgetsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListBudgetsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Live operations (docs/operations.md). Pause the retries of a job type
     * or a target: its retryable failures get RETRY after the pause and use
     * up none of the job's retries. Admin token applies.
     * </pre>
     */
    public void pauseRetries(dev.retryd.v1.PauseRetriesRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.PauseRetriesResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getPauseRetriesMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * End a pause now. Admin token applies.
     * </pre>
     */
    public void resumeRetries(dev.retryd.v1.ResumeRetriesRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ResumeRetriesResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getResumeRetriesMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * The pauses in force.
     * </pre>
     */
    public void listPauses(dev.retryd.v1.ListPausesRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ListPausesResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListPausesMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Decisions and operator actions as they happen. A slow watcher never
     * slows decisions: what it missed is counted in the next event's dropped.
     * </pre>
     */
    public void watchEvents(dev.retryd.v1.WatchEventsRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.Event> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getWatchEventsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Delivery (docs/delivery.md): a report with a payload parks the job, and
     * retryd hands it back when it is due. Due jobs of a queue, oldest due
     * first, each leased to this claimer alone until it settles or its lease
     * runs out.
     * </pre>
     */
    public void claimDue(dev.retryd.v1.ClaimDueRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ClaimDueResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getClaimDueMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * The push form of ClaimDue: due jobs as they fall due, never more than
     * max_in_flight unsettled at once.
     * </pre>
     */
    public void watchDue(dev.retryd.v1.WatchDueRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.DueJob> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getWatchDueMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * More time for a leased job: lease_until = now + lease.
     * </pre>
     */
    public void extendLease(dev.retryd.v1.ExtendLeaseRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ExtendLeaseResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getExtendLeaseMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Hand a leased job back unprocessed (no failure counted): due again
     * after delay.
     * </pre>
     */
    public void releaseJob(dev.retryd.v1.ReleaseJobRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ReleaseJobResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getReleaseJobMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Each queue's parked, due and leased jobs, and its oldest due job.
     * </pre>
     */
    public void listQueues(dev.retryd.v1.ListQueuesRequest request,
        io.grpc.stub.StreamObserver<dev.retryd.v1.ListQueuesResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListQueuesMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * <pre>
   * RetryCoordinator answers "should I retry, and when?" from per-job state.
   * </pre>
   */
  public static final class RetryCoordinatorBlockingStub extends io.grpc.stub.AbstractBlockingStub<RetryCoordinatorBlockingStub> {
    private RetryCoordinatorBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected RetryCoordinatorBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new RetryCoordinatorBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Record a failed attempt and decide: retry after N, or give up because R.
     * </pre>
     */
    public dev.retryd.v1.ReportFailureResponse reportFailure(dev.retryd.v1.ReportFailureRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getReportFailureMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * The job succeeded: its state is dropped.
     * </pre>
     */
    public dev.retryd.v1.ReportSuccessResponse reportSuccess(dev.retryd.v1.ReportSuccessRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getReportSuccessMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * One job's state; NOT_FOUND if retryd holds none.
     * </pre>
     */
    public dev.retryd.v1.GetJobResponse getJob(dev.retryd.v1.GetJobRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetJobMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Jobs filtered by state and job type, ordered by job_id, paginated.
     * </pre>
     */
    public dev.retryd.v1.ListJobsResponse listJobs(dev.retryd.v1.ListJobsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListJobsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Manual retry of a dead, cancelled or retrying job: due now.
     * </pre>
     */
    public dev.retryd.v1.RetryJobResponse retryJob(dev.retryd.v1.RetryJobRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getRetryJobMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Cancel a retrying job: its later failures get GIVE_UP / CANCELLED.
     * </pre>
     */
    public dev.retryd.v1.CancelJobResponse cancelJob(dev.retryd.v1.CancelJobRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCancelJobMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Forget a job (e.g. purge a dead one).
     * </pre>
     */
    public dev.retryd.v1.DeleteJobResponse deleteJob(dev.retryd.v1.DeleteJobRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getDeleteJobMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Counts per job type.
     * </pre>
     */
    public dev.retryd.v1.GetStatsResponse getStats(dev.retryd.v1.GetStatsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetStatsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Dry run: the decision ReportFailure would give, changing no state.
     * </pre>
     */
    public dev.retryd.v1.ExplainResponse explain(dev.retryd.v1.ExplainRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getExplainMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Batch runs in passes (docs/decisions.md, "Batches run in passes").
     * Registers the batch and its jobs on the first call (more job ids may be
     * added later) and opens the next pass.
     * </pre>
     */
    public dev.retryd.v1.StartPassResponse startPass(dev.retryd.v1.StartPassRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getStartPassMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Closes the open pass: what follows, the pass's statistics, what to retry.
     * </pre>
     */
    public dev.retryd.v1.EndPassResponse endPass(dev.retryd.v1.EndPassRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getEndPassMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Totals across passes and every pass's statistics.
     * </pre>
     */
    public dev.retryd.v1.GetBatchResponse getBatch(dev.retryd.v1.GetBatchRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetBatchMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Retry budgets per target (docs/decisions.md, "Retry budgets per target"):
     * every configured target's, and every other target's once used.
     * </pre>
     */
    public dev.retryd.v1.ListBudgetsResponse listBudgets(dev.retryd.v1.ListBudgetsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListBudgetsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Live operations (docs/operations.md). Pause the retries of a job type
     * or a target: its retryable failures get RETRY after the pause and use
     * up none of the job's retries. Admin token applies.
     * </pre>
     */
    public dev.retryd.v1.PauseRetriesResponse pauseRetries(dev.retryd.v1.PauseRetriesRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getPauseRetriesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * End a pause now. Admin token applies.
     * </pre>
     */
    public dev.retryd.v1.ResumeRetriesResponse resumeRetries(dev.retryd.v1.ResumeRetriesRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getResumeRetriesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * The pauses in force.
     * </pre>
     */
    public dev.retryd.v1.ListPausesResponse listPauses(dev.retryd.v1.ListPausesRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListPausesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Decisions and operator actions as they happen. A slow watcher never
     * slows decisions: what it missed is counted in the next event's dropped.
     * </pre>
     */
    public java.util.Iterator<dev.retryd.v1.Event> watchEvents(
        dev.retryd.v1.WatchEventsRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getWatchEventsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Delivery (docs/delivery.md): a report with a payload parks the job, and
     * retryd hands it back when it is due. Due jobs of a queue, oldest due
     * first, each leased to this claimer alone until it settles or its lease
     * runs out.
     * </pre>
     */
    public dev.retryd.v1.ClaimDueResponse claimDue(dev.retryd.v1.ClaimDueRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getClaimDueMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * The push form of ClaimDue: due jobs as they fall due, never more than
     * max_in_flight unsettled at once.
     * </pre>
     */
    public java.util.Iterator<dev.retryd.v1.DueJob> watchDue(
        dev.retryd.v1.WatchDueRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getWatchDueMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * More time for a leased job: lease_until = now + lease.
     * </pre>
     */
    public dev.retryd.v1.ExtendLeaseResponse extendLease(dev.retryd.v1.ExtendLeaseRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getExtendLeaseMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Hand a leased job back unprocessed (no failure counted): due again
     * after delay.
     * </pre>
     */
    public dev.retryd.v1.ReleaseJobResponse releaseJob(dev.retryd.v1.ReleaseJobRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getReleaseJobMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Each queue's parked, due and leased jobs, and its oldest due job.
     * </pre>
     */
    public dev.retryd.v1.ListQueuesResponse listQueues(dev.retryd.v1.ListQueuesRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListQueuesMethod(), getCallOptions(), request);
    }
  }

  /**
   * <pre>
   * RetryCoordinator answers "should I retry, and when?" from per-job state.
   * </pre>
   */
  public static final class RetryCoordinatorFutureStub extends io.grpc.stub.AbstractFutureStub<RetryCoordinatorFutureStub> {
    private RetryCoordinatorFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected RetryCoordinatorFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new RetryCoordinatorFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Record a failed attempt and decide: retry after N, or give up because R.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.ReportFailureResponse> reportFailure(
        dev.retryd.v1.ReportFailureRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getReportFailureMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * The job succeeded: its state is dropped.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.ReportSuccessResponse> reportSuccess(
        dev.retryd.v1.ReportSuccessRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getReportSuccessMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * One job's state; NOT_FOUND if retryd holds none.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.GetJobResponse> getJob(
        dev.retryd.v1.GetJobRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetJobMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Jobs filtered by state and job type, ordered by job_id, paginated.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.ListJobsResponse> listJobs(
        dev.retryd.v1.ListJobsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListJobsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Manual retry of a dead, cancelled or retrying job: due now.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.RetryJobResponse> retryJob(
        dev.retryd.v1.RetryJobRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getRetryJobMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Cancel a retrying job: its later failures get GIVE_UP / CANCELLED.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.CancelJobResponse> cancelJob(
        dev.retryd.v1.CancelJobRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCancelJobMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Forget a job (e.g. purge a dead one).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.DeleteJobResponse> deleteJob(
        dev.retryd.v1.DeleteJobRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getDeleteJobMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Counts per job type.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.GetStatsResponse> getStats(
        dev.retryd.v1.GetStatsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetStatsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Dry run: the decision ReportFailure would give, changing no state.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.ExplainResponse> explain(
        dev.retryd.v1.ExplainRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getExplainMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Batch runs in passes (docs/decisions.md, "Batches run in passes").
     * Registers the batch and its jobs on the first call (more job ids may be
     * added later) and opens the next pass.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.StartPassResponse> startPass(
        dev.retryd.v1.StartPassRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getStartPassMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Closes the open pass: what follows, the pass's statistics, what to retry.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.EndPassResponse> endPass(
        dev.retryd.v1.EndPassRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getEndPassMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Totals across passes and every pass's statistics.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.GetBatchResponse> getBatch(
        dev.retryd.v1.GetBatchRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetBatchMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Retry budgets per target (docs/decisions.md, "Retry budgets per target"):
     * every configured target's, and every other target's once used.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.ListBudgetsResponse> listBudgets(
        dev.retryd.v1.ListBudgetsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListBudgetsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Live operations (docs/operations.md). Pause the retries of a job type
     * or a target: its retryable failures get RETRY after the pause and use
     * up none of the job's retries. Admin token applies.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.PauseRetriesResponse> pauseRetries(
        dev.retryd.v1.PauseRetriesRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getPauseRetriesMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * End a pause now. Admin token applies.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.ResumeRetriesResponse> resumeRetries(
        dev.retryd.v1.ResumeRetriesRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getResumeRetriesMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * The pauses in force.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.ListPausesResponse> listPauses(
        dev.retryd.v1.ListPausesRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListPausesMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Delivery (docs/delivery.md): a report with a payload parks the job, and
     * retryd hands it back when it is due. Due jobs of a queue, oldest due
     * first, each leased to this claimer alone until it settles or its lease
     * runs out.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.ClaimDueResponse> claimDue(
        dev.retryd.v1.ClaimDueRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getClaimDueMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * More time for a leased job: lease_until = now + lease.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.ExtendLeaseResponse> extendLease(
        dev.retryd.v1.ExtendLeaseRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getExtendLeaseMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Hand a leased job back unprocessed (no failure counted): due again
     * after delay.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.ReleaseJobResponse> releaseJob(
        dev.retryd.v1.ReleaseJobRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getReleaseJobMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Each queue's parked, due and leased jobs, and its oldest due job.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.retryd.v1.ListQueuesResponse> listQueues(
        dev.retryd.v1.ListQueuesRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListQueuesMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_REPORT_FAILURE = 0;
  private static final int METHODID_REPORT_SUCCESS = 1;
  private static final int METHODID_GET_JOB = 2;
  private static final int METHODID_LIST_JOBS = 3;
  private static final int METHODID_RETRY_JOB = 4;
  private static final int METHODID_CANCEL_JOB = 5;
  private static final int METHODID_DELETE_JOB = 6;
  private static final int METHODID_GET_STATS = 7;
  private static final int METHODID_EXPLAIN = 8;
  private static final int METHODID_START_PASS = 9;
  private static final int METHODID_END_PASS = 10;
  private static final int METHODID_GET_BATCH = 11;
  private static final int METHODID_LIST_BUDGETS = 12;
  private static final int METHODID_PAUSE_RETRIES = 13;
  private static final int METHODID_RESUME_RETRIES = 14;
  private static final int METHODID_LIST_PAUSES = 15;
  private static final int METHODID_WATCH_EVENTS = 16;
  private static final int METHODID_CLAIM_DUE = 17;
  private static final int METHODID_WATCH_DUE = 18;
  private static final int METHODID_EXTEND_LEASE = 19;
  private static final int METHODID_RELEASE_JOB = 20;
  private static final int METHODID_LIST_QUEUES = 21;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final RetryCoordinatorImplBase serviceImpl;
    private final int methodId;

    MethodHandlers(RetryCoordinatorImplBase serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_REPORT_FAILURE:
          serviceImpl.reportFailure((dev.retryd.v1.ReportFailureRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.ReportFailureResponse>) responseObserver);
          break;
        case METHODID_REPORT_SUCCESS:
          serviceImpl.reportSuccess((dev.retryd.v1.ReportSuccessRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.ReportSuccessResponse>) responseObserver);
          break;
        case METHODID_GET_JOB:
          serviceImpl.getJob((dev.retryd.v1.GetJobRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.GetJobResponse>) responseObserver);
          break;
        case METHODID_LIST_JOBS:
          serviceImpl.listJobs((dev.retryd.v1.ListJobsRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.ListJobsResponse>) responseObserver);
          break;
        case METHODID_RETRY_JOB:
          serviceImpl.retryJob((dev.retryd.v1.RetryJobRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.RetryJobResponse>) responseObserver);
          break;
        case METHODID_CANCEL_JOB:
          serviceImpl.cancelJob((dev.retryd.v1.CancelJobRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.CancelJobResponse>) responseObserver);
          break;
        case METHODID_DELETE_JOB:
          serviceImpl.deleteJob((dev.retryd.v1.DeleteJobRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.DeleteJobResponse>) responseObserver);
          break;
        case METHODID_GET_STATS:
          serviceImpl.getStats((dev.retryd.v1.GetStatsRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.GetStatsResponse>) responseObserver);
          break;
        case METHODID_EXPLAIN:
          serviceImpl.explain((dev.retryd.v1.ExplainRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.ExplainResponse>) responseObserver);
          break;
        case METHODID_START_PASS:
          serviceImpl.startPass((dev.retryd.v1.StartPassRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.StartPassResponse>) responseObserver);
          break;
        case METHODID_END_PASS:
          serviceImpl.endPass((dev.retryd.v1.EndPassRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.EndPassResponse>) responseObserver);
          break;
        case METHODID_GET_BATCH:
          serviceImpl.getBatch((dev.retryd.v1.GetBatchRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.GetBatchResponse>) responseObserver);
          break;
        case METHODID_LIST_BUDGETS:
          serviceImpl.listBudgets((dev.retryd.v1.ListBudgetsRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.ListBudgetsResponse>) responseObserver);
          break;
        case METHODID_PAUSE_RETRIES:
          serviceImpl.pauseRetries((dev.retryd.v1.PauseRetriesRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.PauseRetriesResponse>) responseObserver);
          break;
        case METHODID_RESUME_RETRIES:
          serviceImpl.resumeRetries((dev.retryd.v1.ResumeRetriesRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.ResumeRetriesResponse>) responseObserver);
          break;
        case METHODID_LIST_PAUSES:
          serviceImpl.listPauses((dev.retryd.v1.ListPausesRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.ListPausesResponse>) responseObserver);
          break;
        case METHODID_WATCH_EVENTS:
          serviceImpl.watchEvents((dev.retryd.v1.WatchEventsRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.Event>) responseObserver);
          break;
        case METHODID_CLAIM_DUE:
          serviceImpl.claimDue((dev.retryd.v1.ClaimDueRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.ClaimDueResponse>) responseObserver);
          break;
        case METHODID_WATCH_DUE:
          serviceImpl.watchDue((dev.retryd.v1.WatchDueRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.DueJob>) responseObserver);
          break;
        case METHODID_EXTEND_LEASE:
          serviceImpl.extendLease((dev.retryd.v1.ExtendLeaseRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.ExtendLeaseResponse>) responseObserver);
          break;
        case METHODID_RELEASE_JOB:
          serviceImpl.releaseJob((dev.retryd.v1.ReleaseJobRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.ReleaseJobResponse>) responseObserver);
          break;
        case METHODID_LIST_QUEUES:
          serviceImpl.listQueues((dev.retryd.v1.ListQueuesRequest) request,
              (io.grpc.stub.StreamObserver<dev.retryd.v1.ListQueuesResponse>) responseObserver);
          break;
        default:
          throw new AssertionError();
      }
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public io.grpc.stub.StreamObserver<Req> invoke(
        io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        default:
          throw new AssertionError();
      }
    }
  }

  private static abstract class RetryCoordinatorBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    RetryCoordinatorBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return dev.retryd.v1.Retryd.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("RetryCoordinator");
    }
  }

  private static final class RetryCoordinatorFileDescriptorSupplier
      extends RetryCoordinatorBaseDescriptorSupplier {
    RetryCoordinatorFileDescriptorSupplier() {}
  }

  private static final class RetryCoordinatorMethodDescriptorSupplier
      extends RetryCoordinatorBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final String methodName;

    RetryCoordinatorMethodDescriptorSupplier(String methodName) {
      this.methodName = methodName;
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.MethodDescriptor getMethodDescriptor() {
      return getServiceDescriptor().findMethodByName(methodName);
    }
  }

  private static volatile io.grpc.ServiceDescriptor serviceDescriptor;

  public static io.grpc.ServiceDescriptor getServiceDescriptor() {
    io.grpc.ServiceDescriptor result = serviceDescriptor;
    if (result == null) {
      synchronized (RetryCoordinatorGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new RetryCoordinatorFileDescriptorSupplier())
              .addMethod(getReportFailureMethod())
              .addMethod(getReportSuccessMethod())
              .addMethod(getGetJobMethod())
              .addMethod(getListJobsMethod())
              .addMethod(getRetryJobMethod())
              .addMethod(getCancelJobMethod())
              .addMethod(getDeleteJobMethod())
              .addMethod(getGetStatsMethod())
              .addMethod(getExplainMethod())
              .addMethod(getStartPassMethod())
              .addMethod(getEndPassMethod())
              .addMethod(getGetBatchMethod())
              .addMethod(getListBudgetsMethod())
              .addMethod(getPauseRetriesMethod())
              .addMethod(getResumeRetriesMethod())
              .addMethod(getListPausesMethod())
              .addMethod(getWatchEventsMethod())
              .addMethod(getClaimDueMethod())
              .addMethod(getWatchDueMethod())
              .addMethod(getExtendLeaseMethod())
              .addMethod(getReleaseJobMethod())
              .addMethod(getListQueuesMethod())
              .build();
        }
      }
    }
    return result;
  }
}
