import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_UNSPECIFIED: _ClassVar[Action]
    ACTION_RETRY: _ClassVar[Action]
    ACTION_GIVE_UP: _ClassVar[Action]

class GiveUpReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GIVE_UP_REASON_UNSPECIFIED: _ClassVar[GiveUpReason]
    GIVE_UP_REASON_PERMANENT_ERROR: _ClassVar[GiveUpReason]
    GIVE_UP_REASON_RETRIES_EXHAUSTED: _ClassVar[GiveUpReason]
    GIVE_UP_REASON_DEADLINE_EXCEEDED: _ClassVar[GiveUpReason]
    GIVE_UP_REASON_CANCELLED: _ClassVar[GiveUpReason]
    GIVE_UP_REASON_BUDGET_EXHAUSTED: _ClassVar[GiveUpReason]
    GIVE_UP_REASON_PUSHBACK: _ClassVar[GiveUpReason]
    GIVE_UP_REASON_DELIVERY_LIMIT: _ClassVar[GiveUpReason]

class ErrorClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_CLASS_UNSPECIFIED: _ClassVar[ErrorClass]
    ERROR_CLASS_TRANSIENT: _ClassVar[ErrorClass]
    ERROR_CLASS_PERMANENT: _ClassVar[ErrorClass]
    ERROR_CLASS_UNKNOWN: _ClassVar[ErrorClass]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_RETRYING: _ClassVar[JobState]
    JOB_STATE_DEAD: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class PassResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PASS_RESULT_UNSPECIFIED: _ClassVar[PassResult]
    PASS_RESULT_ALL_COMPLETE: _ClassVar[PassResult]
    PASS_RESULT_ONLY_NON_RETRYABLE: _ClassVar[PassResult]
    PASS_RESULT_MAX_PASSES_REACHED: _ClassVar[PassResult]
    PASS_RESULT_RETRYABLE_REMAINING: _ClassVar[PassResult]

class BreakerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BREAKER_STATE_UNSPECIFIED: _ClassVar[BreakerState]
    BREAKER_STATE_CLOSED: _ClassVar[BreakerState]
    BREAKER_STATE_OPEN: _ClassVar[BreakerState]
    BREAKER_STATE_HALF_OPEN: _ClassVar[BreakerState]

class EventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_KIND_UNSPECIFIED: _ClassVar[EventKind]
    EVENT_KIND_RETRY_SCHEDULED: _ClassVar[EventKind]
    EVENT_KIND_GAVE_UP: _ClassVar[EventKind]
    EVENT_KIND_SUCCEEDED_AFTER_RETRY: _ClassVar[EventKind]
    EVENT_KIND_CANCELLED: _ClassVar[EventKind]
    EVENT_KIND_MANUAL_RETRY: _ClassVar[EventKind]
    EVENT_KIND_BUDGET_EXHAUSTED: _ClassVar[EventKind]
    EVENT_KIND_BREAKER_OPENED: _ClassVar[EventKind]
    EVENT_KIND_BREAKER_CLOSED: _ClassVar[EventKind]
    EVENT_KIND_PAUSED: _ClassVar[EventKind]
    EVENT_KIND_RESUMED: _ClassVar[EventKind]
    EVENT_KIND_DELIVERED: _ClassVar[EventKind]
    EVENT_KIND_LEASE_EXPIRED: _ClassVar[EventKind]
ACTION_UNSPECIFIED: Action
ACTION_RETRY: Action
ACTION_GIVE_UP: Action
GIVE_UP_REASON_UNSPECIFIED: GiveUpReason
GIVE_UP_REASON_PERMANENT_ERROR: GiveUpReason
GIVE_UP_REASON_RETRIES_EXHAUSTED: GiveUpReason
GIVE_UP_REASON_DEADLINE_EXCEEDED: GiveUpReason
GIVE_UP_REASON_CANCELLED: GiveUpReason
GIVE_UP_REASON_BUDGET_EXHAUSTED: GiveUpReason
GIVE_UP_REASON_PUSHBACK: GiveUpReason
GIVE_UP_REASON_DELIVERY_LIMIT: GiveUpReason
ERROR_CLASS_UNSPECIFIED: ErrorClass
ERROR_CLASS_TRANSIENT: ErrorClass
ERROR_CLASS_PERMANENT: ErrorClass
ERROR_CLASS_UNKNOWN: ErrorClass
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_RETRYING: JobState
JOB_STATE_DEAD: JobState
JOB_STATE_CANCELLED: JobState
PASS_RESULT_UNSPECIFIED: PassResult
PASS_RESULT_ALL_COMPLETE: PassResult
PASS_RESULT_ONLY_NON_RETRYABLE: PassResult
PASS_RESULT_MAX_PASSES_REACHED: PassResult
PASS_RESULT_RETRYABLE_REMAINING: PassResult
BREAKER_STATE_UNSPECIFIED: BreakerState
BREAKER_STATE_CLOSED: BreakerState
BREAKER_STATE_OPEN: BreakerState
BREAKER_STATE_HALF_OPEN: BreakerState
EVENT_KIND_UNSPECIFIED: EventKind
EVENT_KIND_RETRY_SCHEDULED: EventKind
EVENT_KIND_GAVE_UP: EventKind
EVENT_KIND_SUCCEEDED_AFTER_RETRY: EventKind
EVENT_KIND_CANCELLED: EventKind
EVENT_KIND_MANUAL_RETRY: EventKind
EVENT_KIND_BUDGET_EXHAUSTED: EventKind
EVENT_KIND_BREAKER_OPENED: EventKind
EVENT_KIND_BREAKER_CLOSED: EventKind
EVENT_KIND_PAUSED: EventKind
EVENT_KIND_RESUMED: EventKind
EVENT_KIND_DELIVERED: EventKind
EVENT_KIND_LEASE_EXPIRED: EventKind

class ErrorInfo(_message.Message):
    __slots__ = ("type", "message", "http_status", "grpc_code", "retryable")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    GRPC_CODE_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    type: str
    message: str
    http_status: int
    grpc_code: int
    retryable: bool
    def __init__(self, type: _Optional[str] = ..., message: _Optional[str] = ..., http_status: _Optional[int] = ..., grpc_code: _Optional[int] = ..., retryable: _Optional[bool] = ...) -> None: ...

class ReportFailureRequest(_message.Message):
    __slots__ = ("job_id", "job_type", "policy", "priority", "error", "retry_after_hint", "attempt", "target", "retry_after_header", "retry_pushback_ms", "payload", "queue", "lease_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_HINT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_HEADER_FIELD_NUMBER: _ClassVar[int]
    RETRY_PUSHBACK_MS_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    job_type: str
    policy: str
    priority: int
    error: ErrorInfo
    retry_after_hint: _duration_pb2.Duration
    attempt: int
    target: str
    retry_after_header: str
    retry_pushback_ms: int
    payload: bytes
    queue: str
    lease_id: str
    def __init__(self, job_id: _Optional[str] = ..., job_type: _Optional[str] = ..., policy: _Optional[str] = ..., priority: _Optional[int] = ..., error: _Optional[_Union[ErrorInfo, _Mapping]] = ..., retry_after_hint: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., attempt: _Optional[int] = ..., target: _Optional[str] = ..., retry_after_header: _Optional[str] = ..., retry_pushback_ms: _Optional[int] = ..., payload: _Optional[bytes] = ..., queue: _Optional[str] = ..., lease_id: _Optional[str] = ...) -> None: ...

class ReportFailureResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    def __init__(self, decision: _Optional[_Union[Decision, _Mapping]] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("action", "retry_after", "retry_at", "failure_count", "max_attempts", "reason", "error_class", "category", "policy", "explanation")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_FIELD_NUMBER: _ClassVar[int]
    RETRY_AT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ERROR_CLASS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    action: Action
    retry_after: _duration_pb2.Duration
    retry_at: _timestamp_pb2.Timestamp
    failure_count: int
    max_attempts: int
    reason: GiveUpReason
    error_class: ErrorClass
    category: str
    policy: str
    explanation: str
    def __init__(self, action: _Optional[_Union[Action, str]] = ..., retry_after: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., retry_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., failure_count: _Optional[int] = ..., max_attempts: _Optional[int] = ..., reason: _Optional[_Union[GiveUpReason, str]] = ..., error_class: _Optional[_Union[ErrorClass, str]] = ..., category: _Optional[str] = ..., policy: _Optional[str] = ..., explanation: _Optional[str] = ...) -> None: ...

class ReportSuccessRequest(_message.Message):
    __slots__ = ("job_id", "job_type", "target", "lease_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    job_type: str
    target: str
    lease_id: str
    def __init__(self, job_id: _Optional[str] = ..., job_type: _Optional[str] = ..., target: _Optional[str] = ..., lease_id: _Optional[str] = ...) -> None: ...

class ReportSuccessResponse(_message.Message):
    __slots__ = ("failures_before_success", "known")
    FAILURES_BEFORE_SUCCESS_FIELD_NUMBER: _ClassVar[int]
    KNOWN_FIELD_NUMBER: _ClassVar[int]
    failures_before_success: int
    known: bool
    def __init__(self, failures_before_success: _Optional[int] = ..., known: _Optional[bool] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("job_id", "job_type", "policy", "state", "failure_count", "first_failure_at", "last_failure_at", "next_retry_at", "last_error", "last_decision", "queue", "payload_bytes", "deliveries", "lease_until")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_FAILURE_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_FAILURE_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_RETRY_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_DECISION_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_BYTES_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    LEASE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    job_type: str
    policy: str
    state: JobState
    failure_count: int
    first_failure_at: _timestamp_pb2.Timestamp
    last_failure_at: _timestamp_pb2.Timestamp
    next_retry_at: _timestamp_pb2.Timestamp
    last_error: ErrorInfo
    last_decision: Decision
    queue: str
    payload_bytes: int
    deliveries: int
    lease_until: _timestamp_pb2.Timestamp
    def __init__(self, job_id: _Optional[str] = ..., job_type: _Optional[str] = ..., policy: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., failure_count: _Optional[int] = ..., first_failure_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_failure_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_retry_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[_Union[ErrorInfo, _Mapping]] = ..., last_decision: _Optional[_Union[Decision, _Mapping]] = ..., queue: _Optional[str] = ..., payload_bytes: _Optional[int] = ..., deliveries: _Optional[int] = ..., lease_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("state", "job_type", "page_size", "page_token")
    STATE_FIELD_NUMBER: _ClassVar[int]
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    state: JobState
    job_type: str
    page_size: int
    page_token: str
    def __init__(self, state: _Optional[_Union[JobState, str]] = ..., job_type: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token", "total_size")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    total_size: int
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class RetryJobRequest(_message.Message):
    __slots__ = ("job_id", "reset_failures")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    RESET_FAILURES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    reset_failures: bool
    def __init__(self, job_id: _Optional[str] = ..., reset_failures: _Optional[bool] = ...) -> None: ...

class RetryJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class DeleteJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class DeleteJobResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class JobTypeStats(_message.Message):
    __slots__ = ("job_type", "retrying", "dead", "cancelled", "first_try_successes", "successes_after_retry", "give_ups", "retry_success_rate")
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    RETRYING_FIELD_NUMBER: _ClassVar[int]
    DEAD_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    FIRST_TRY_SUCCESSES_FIELD_NUMBER: _ClassVar[int]
    SUCCESSES_AFTER_RETRY_FIELD_NUMBER: _ClassVar[int]
    GIVE_UPS_FIELD_NUMBER: _ClassVar[int]
    RETRY_SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    job_type: str
    retrying: int
    dead: int
    cancelled: int
    first_try_successes: int
    successes_after_retry: int
    give_ups: int
    retry_success_rate: float
    def __init__(self, job_type: _Optional[str] = ..., retrying: _Optional[int] = ..., dead: _Optional[int] = ..., cancelled: _Optional[int] = ..., first_try_successes: _Optional[int] = ..., successes_after_retry: _Optional[int] = ..., give_ups: _Optional[int] = ..., retry_success_rate: _Optional[float] = ...) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("job_types", "total")
    JOB_TYPES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    job_types: _containers.RepeatedCompositeFieldContainer[JobTypeStats]
    total: JobTypeStats
    def __init__(self, job_types: _Optional[_Iterable[_Union[JobTypeStats, _Mapping]]] = ..., total: _Optional[_Union[JobTypeStats, _Mapping]] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ("job_id", "job_type", "policy", "priority", "error", "retry_after_hint", "attempt", "target", "retry_after_header", "retry_pushback_ms")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_HINT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_HEADER_FIELD_NUMBER: _ClassVar[int]
    RETRY_PUSHBACK_MS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    job_type: str
    policy: str
    priority: int
    error: ErrorInfo
    retry_after_hint: _duration_pb2.Duration
    attempt: int
    target: str
    retry_after_header: str
    retry_pushback_ms: int
    def __init__(self, job_id: _Optional[str] = ..., job_type: _Optional[str] = ..., policy: _Optional[str] = ..., priority: _Optional[int] = ..., error: _Optional[_Union[ErrorInfo, _Mapping]] = ..., retry_after_hint: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., attempt: _Optional[int] = ..., target: _Optional[str] = ..., retry_after_header: _Optional[str] = ..., retry_pushback_ms: _Optional[int] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("decision", "shadow")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    SHADOW_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    shadow: Decision
    def __init__(self, decision: _Optional[_Union[Decision, _Mapping]] = ..., shadow: _Optional[_Union[Decision, _Mapping]] = ...) -> None: ...

class PassStats(_message.Message):
    __slots__ = ("pass_number", "started_at", "jobs_pending", "jobs_attempted", "jobs_succeeded", "jobs_failed_retryable", "jobs_failed_non_retryable", "success_rate", "duration", "ended_at")
    PASS_NUMBER_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    JOBS_PENDING_FIELD_NUMBER: _ClassVar[int]
    JOBS_ATTEMPTED_FIELD_NUMBER: _ClassVar[int]
    JOBS_SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    JOBS_FAILED_RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    JOBS_FAILED_NON_RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    pass_number: int
    started_at: _timestamp_pb2.Timestamp
    jobs_pending: int
    jobs_attempted: int
    jobs_succeeded: int
    jobs_failed_retryable: int
    jobs_failed_non_retryable: int
    success_rate: float
    duration: _duration_pb2.Duration
    ended_at: _timestamp_pb2.Timestamp
    def __init__(self, pass_number: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., jobs_pending: _Optional[int] = ..., jobs_attempted: _Optional[int] = ..., jobs_succeeded: _Optional[int] = ..., jobs_failed_retryable: _Optional[int] = ..., jobs_failed_non_retryable: _Optional[int] = ..., success_rate: _Optional[float] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StartPassRequest(_message.Message):
    __slots__ = ("batch_id", "job_ids", "max_passes", "pass_delay")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    MAX_PASSES_FIELD_NUMBER: _ClassVar[int]
    PASS_DELAY_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    job_ids: _containers.RepeatedScalarFieldContainer[str]
    max_passes: int
    pass_delay: _duration_pb2.Duration
    def __init__(self, batch_id: _Optional[str] = ..., job_ids: _Optional[_Iterable[str]] = ..., max_passes: _Optional[int] = ..., pass_delay: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class StartPassResponse(_message.Message):
    __slots__ = ("stats",)
    STATS_FIELD_NUMBER: _ClassVar[int]
    stats: PassStats
    def __init__(self, stats: _Optional[_Union[PassStats, _Mapping]] = ...) -> None: ...

class EndPassRequest(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    def __init__(self, batch_id: _Optional[str] = ...) -> None: ...

class EndPassResponse(_message.Message):
    __slots__ = ("result", "stats", "retry_job_ids", "next_pass_delay")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    RETRY_JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PASS_DELAY_FIELD_NUMBER: _ClassVar[int]
    result: PassResult
    stats: PassStats
    retry_job_ids: _containers.RepeatedScalarFieldContainer[str]
    next_pass_delay: _duration_pb2.Duration
    def __init__(self, result: _Optional[_Union[PassResult, str]] = ..., stats: _Optional[_Union[PassStats, _Mapping]] = ..., retry_job_ids: _Optional[_Iterable[str]] = ..., next_pass_delay: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GetBatchRequest(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    def __init__(self, batch_id: _Optional[str] = ...) -> None: ...

class GetBatchResponse(_message.Message):
    __slots__ = ("batch_id", "passes", "total_attempted", "total_succeeded", "total_failed_retryable", "total_failed_non_retryable", "success_rate")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PASSES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ATTEMPTED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FAILED_RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FAILED_NON_RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    passes: _containers.RepeatedCompositeFieldContainer[PassStats]
    total_attempted: int
    total_succeeded: int
    total_failed_retryable: int
    total_failed_non_retryable: int
    success_rate: float
    def __init__(self, batch_id: _Optional[str] = ..., passes: _Optional[_Iterable[_Union[PassStats, _Mapping]]] = ..., total_attempted: _Optional[int] = ..., total_succeeded: _Optional[int] = ..., total_failed_retryable: _Optional[int] = ..., total_failed_non_retryable: _Optional[int] = ..., success_rate: _Optional[float] = ...) -> None: ...

class ListBudgetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Budget(_message.Message):
    __slots__ = ("target", "tokens", "max_tokens", "retrying", "exhausted_total", "max_retrying", "breaker_state", "breaker_open_until")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    RETRYING_FIELD_NUMBER: _ClassVar[int]
    EXHAUSTED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRYING_FIELD_NUMBER: _ClassVar[int]
    BREAKER_STATE_FIELD_NUMBER: _ClassVar[int]
    BREAKER_OPEN_UNTIL_FIELD_NUMBER: _ClassVar[int]
    target: str
    tokens: float
    max_tokens: int
    retrying: int
    exhausted_total: int
    max_retrying: int
    breaker_state: BreakerState
    breaker_open_until: _timestamp_pb2.Timestamp
    def __init__(self, target: _Optional[str] = ..., tokens: _Optional[float] = ..., max_tokens: _Optional[int] = ..., retrying: _Optional[int] = ..., exhausted_total: _Optional[int] = ..., max_retrying: _Optional[int] = ..., breaker_state: _Optional[_Union[BreakerState, str]] = ..., breaker_open_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListBudgetsResponse(_message.Message):
    __slots__ = ("budgets",)
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    budgets: _containers.RepeatedCompositeFieldContainer[Budget]
    def __init__(self, budgets: _Optional[_Iterable[_Union[Budget, _Mapping]]] = ...) -> None: ...

class PauseRetriesRequest(_message.Message):
    __slots__ = ("job_type", "target", "duration")
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    job_type: str
    target: str
    duration: _duration_pb2.Duration
    def __init__(self, job_type: _Optional[str] = ..., target: _Optional[str] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class PauseRetriesResponse(_message.Message):
    __slots__ = ("pause",)
    PAUSE_FIELD_NUMBER: _ClassVar[int]
    pause: Pause
    def __init__(self, pause: _Optional[_Union[Pause, _Mapping]] = ...) -> None: ...

class ResumeRetriesRequest(_message.Message):
    __slots__ = ("job_type", "target")
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    job_type: str
    target: str
    def __init__(self, job_type: _Optional[str] = ..., target: _Optional[str] = ...) -> None: ...

class ResumeRetriesResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPausesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPausesResponse(_message.Message):
    __slots__ = ("pauses",)
    PAUSES_FIELD_NUMBER: _ClassVar[int]
    pauses: _containers.RepeatedCompositeFieldContainer[Pause]
    def __init__(self, pauses: _Optional[_Iterable[_Union[Pause, _Mapping]]] = ...) -> None: ...

class Pause(_message.Message):
    __slots__ = ("job_type", "target", "until", "created_at")
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    job_type: str
    target: str
    until: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, job_type: _Optional[str] = ..., target: _Optional[str] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("job_type", "target", "kinds")
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    job_type: str
    target: str
    kinds: _containers.RepeatedScalarFieldContainer[EventKind]
    def __init__(self, job_type: _Optional[str] = ..., target: _Optional[str] = ..., kinds: _Optional[_Iterable[_Union[EventKind, str]]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("kind", "at", "job_id", "job_type", "target", "decision", "dropped")
    KIND_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    kind: EventKind
    at: _timestamp_pb2.Timestamp
    job_id: str
    job_type: str
    target: str
    decision: Decision
    dropped: int
    def __init__(self, kind: _Optional[_Union[EventKind, str]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., job_id: _Optional[str] = ..., job_type: _Optional[str] = ..., target: _Optional[str] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., dropped: _Optional[int] = ...) -> None: ...

class ClaimDueRequest(_message.Message):
    __slots__ = ("queue", "max_jobs", "lease")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    MAX_JOBS_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    queue: str
    max_jobs: int
    lease: _duration_pb2.Duration
    def __init__(self, queue: _Optional[str] = ..., max_jobs: _Optional[int] = ..., lease: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ClaimDueResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[DueJob]
    def __init__(self, jobs: _Optional[_Iterable[_Union[DueJob, _Mapping]]] = ...) -> None: ...

class DueJob(_message.Message):
    __slots__ = ("job_id", "job_type", "queue", "payload", "attempt", "last_error", "due_at", "lease_id", "lease_until", "deliveries")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    job_type: str
    queue: str
    payload: bytes
    attempt: int
    last_error: ErrorInfo
    due_at: _timestamp_pb2.Timestamp
    lease_id: str
    lease_until: _timestamp_pb2.Timestamp
    deliveries: int
    def __init__(self, job_id: _Optional[str] = ..., job_type: _Optional[str] = ..., queue: _Optional[str] = ..., payload: _Optional[bytes] = ..., attempt: _Optional[int] = ..., last_error: _Optional[_Union[ErrorInfo, _Mapping]] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lease_id: _Optional[str] = ..., lease_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deliveries: _Optional[int] = ...) -> None: ...

class WatchDueRequest(_message.Message):
    __slots__ = ("queue", "max_in_flight", "lease")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    queue: str
    max_in_flight: int
    lease: _duration_pb2.Duration
    def __init__(self, queue: _Optional[str] = ..., max_in_flight: _Optional[int] = ..., lease: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ExtendLeaseRequest(_message.Message):
    __slots__ = ("job_id", "lease_id", "lease")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    lease_id: str
    lease: _duration_pb2.Duration
    def __init__(self, job_id: _Optional[str] = ..., lease_id: _Optional[str] = ..., lease: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ExtendLeaseResponse(_message.Message):
    __slots__ = ("lease_until",)
    LEASE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    lease_until: _timestamp_pb2.Timestamp
    def __init__(self, lease_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReleaseJobRequest(_message.Message):
    __slots__ = ("job_id", "lease_id", "delay")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    DELAY_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    lease_id: str
    delay: _duration_pb2.Duration
    def __init__(self, job_id: _Optional[str] = ..., lease_id: _Optional[str] = ..., delay: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ReleaseJobResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListQueuesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListQueuesResponse(_message.Message):
    __slots__ = ("queues",)
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedCompositeFieldContainer[QueueStats]
    def __init__(self, queues: _Optional[_Iterable[_Union[QueueStats, _Mapping]]] = ...) -> None: ...

class QueueStats(_message.Message):
    __slots__ = ("queue", "parked", "due", "leased", "parked_bytes", "oldest_due_at")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    PARKED_FIELD_NUMBER: _ClassVar[int]
    DUE_FIELD_NUMBER: _ClassVar[int]
    LEASED_FIELD_NUMBER: _ClassVar[int]
    PARKED_BYTES_FIELD_NUMBER: _ClassVar[int]
    OLDEST_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    queue: str
    parked: int
    due: int
    leased: int
    parked_bytes: int
    oldest_due_at: _timestamp_pb2.Timestamp
    def __init__(self, queue: _Optional[str] = ..., parked: _Optional[int] = ..., due: _Optional[int] = ..., leased: _Optional[int] = ..., parked_bytes: _Optional[int] = ..., oldest_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
