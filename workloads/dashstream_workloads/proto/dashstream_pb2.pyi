from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MessageType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESSAGE_TYPE_UNSPECIFIED: _ClassVar[MessageType]
    MESSAGE_TYPE_QUALITY: _ClassVar[MessageType]
    MESSAGE_TYPE_HEARTBEAT: _ClassVar[MessageType]
MESSAGE_TYPE_UNSPECIFIED: MessageType
MESSAGE_TYPE_QUALITY: MessageType
MESSAGE_TYPE_HEARTBEAT: MessageType

class Header(_message.Message):
    __slots__ = ("message_id", "timestamp_us", "tenant_id", "thread_id", "sequence", "schema_version", "message_type")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_US_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    timestamp_us: int
    tenant_id: str
    thread_id: str
    sequence: int
    schema_version: int
    message_type: MessageType
    def __init__(self, message_id: _Optional[str] = ..., timestamp_us: _Optional[int] = ..., tenant_id: _Optional[str] = ..., thread_id: _Optional[str] = ..., sequence: _Optional[int] = ..., schema_version: _Optional[int] = ..., message_type: _Optional[_Union[MessageType, str]] = ...) -> None: ...

class LibrarianDetails(_message.Message):
    __slots__ = ("test_status", "request_duration_seconds", "iterations")
    class TestStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TEST_STATUS_UNSPECIFIED: _ClassVar[LibrarianDetails.TestStatus]
        TEST_STATUS_PASSED: _ClassVar[LibrarianDetails.TestStatus]
        TEST_STATUS_FAILED: _ClassVar[LibrarianDetails.TestStatus]
    TEST_STATUS_UNSPECIFIED: LibrarianDetails.TestStatus
    TEST_STATUS_PASSED: LibrarianDetails.TestStatus
    TEST_STATUS_FAILED: LibrarianDetails.TestStatus
    TEST_STATUS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    test_status: LibrarianDetails.TestStatus
    request_duration_seconds: float
    iterations: int
    def __init__(self, test_status: _Optional[_Union[LibrarianDetails.TestStatus, str]] = ..., request_duration_seconds: _Optional[float] = ..., iterations: _Optional[int] = ...) -> None: ...

class QualityEvent(_message.Message):
    __slots__ = ("quality_score", "accuracy", "relevance", "completeness", "passed", "failure_category", "model", "latency_ms", "retry_count", "session_id", "turn_number", "application", "librarian")
    QUALITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    RELEVANCE_FIELD_NUMBER: _ClassVar[int]
    COMPLETENESS_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    RETRY_COUNT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TURN_NUMBER_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    LIBRARIAN_FIELD_NUMBER: _ClassVar[int]
    quality_score: float
    accuracy: float
    relevance: float
    completeness: float
    passed: bool
    failure_category: str
    model: str
    latency_ms: float
    retry_count: int
    session_id: str
    turn_number: int
    application: str
    librarian: LibrarianDetails
    def __init__(self, quality_score: _Optional[float] = ..., accuracy: _Optional[float] = ..., relevance: _Optional[float] = ..., completeness: _Optional[float] = ..., passed: _Optional[bool] = ..., failure_category: _Optional[str] = ..., model: _Optional[str] = ..., latency_ms: _Optional[float] = ..., retry_count: _Optional[int] = ..., session_id: _Optional[str] = ..., turn_number: _Optional[int] = ..., application: _Optional[str] = ..., librarian: _Optional[_Union[LibrarianDetails, _Mapping]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("messages_sent",)
    MESSAGES_SENT_FIELD_NUMBER: _ClassVar[int]
    messages_sent: int
    def __init__(self, messages_sent: _Optional[int] = ...) -> None: ...

class DashStreamMessage(_message.Message):
    __slots__ = ("header", "quality", "heartbeat")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    header: Header
    quality: QualityEvent
    heartbeat: Heartbeat
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., quality: _Optional[_Union[QualityEvent, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...
