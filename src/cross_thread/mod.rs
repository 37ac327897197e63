//! Everything that crosses between threads, and nothing else: the messages,
//! the bounded channels they travel on, the state several threads share
//! (the id registry, the reloadable credential and TLS stores, published
//! counters, the stop signal) and the narrow handles the admin API and the
//! bus bridge hold. Each thread's own folder (`reactor/`, `processor/`,
//! `journal/`, `bus/`, `admin/`, `logging`, `memory`) meets the others only
//! here; only [`crate::start`] sees them all.
//!
//! ```text
//!  reactor --InboundCall--> processor queue (one bounded MPMC) --> processors
//!  reactor <--ToReactor---- reactor inbox (bounded, one per reactor) <-- processors,
//!                           journal writer (released answers), admin, bus, other reactors
//!  reactors, processors --JournalRecord--> journal queue (bounded) --> journal writer
//!  journal writer --files--> bus bridge (tails them: journal_files)
//!  processors --BackendRequest--> bus bridge --BackendReply--> processors
//!  admin, bus --Route--> IdRegistry --> the owner reactor's inbox
//!  reactors --TraceEvent--> trace queue (bounded) --> trace writer
//! ```
//! Every channel is bounded by `[channels] capacity`. A connection lives on
//! one reactor only; other threads name it by [`ConnRef`] and send messages.
//! Depends on `ocpp`, `config` and the leaf helpers `json_text` and
//! `time_text` (which import nothing of the crate) only.

pub mod answer_here;
pub mod backend;
pub mod calls;
pub mod command_queue;
pub mod handles;
pub mod id_registry;
pub mod journal_files;
pub mod journal_queue;
pub mod journal_record;
pub mod reactor_inbox;
pub mod reloadable;
pub mod route;
pub mod server_calls;
pub mod stats;
pub mod stop;
pub mod trace_files;
pub mod trace_queue;

pub use answer_here::{AnswerHere, AnsweredHere};
pub use backend::{
    BackendAnswer, BackendLink, BackendReply, BackendRequest, BridgeEnds, Refused, backend_channels,
};
pub use calls::{BootInfo, CallAnswer, ConnRef, ConnectionInfo, InboundCall};
pub use command_queue::{
    CancelOutcome, CommandState, QueueBusy, QueueEnds, QueueRefusal, QueueSender, QueueSpec,
    QueueStats, QueuedCommand, ToQueue,
};
pub use handles::{AdminHandle, BusHandle, PublishedCounters};
pub use id_registry::{IdPage, IdRegistry, PresenceChange};
pub use journal_queue::{
    JournalClosed, JournalCounters, JournalSender, JournalStats, JournalWatch,
};
pub use journal_record::{
    Direction, FrameSlice, JournalRecord, Kind, KindFields, Payload, SmallText,
};
pub use reactor_inbox::{Inbox, ReactorHandle, ToReactor, reactor_inbox};
pub use reloadable::Reloadable;
pub use route::{Offered, Route};
pub use server_calls::{Deliver, ReplyTo, ServerCallOutcome, ServerCallRequest};
pub use stats::{
    AnswerCounts, BusStats, LenientCounts, MemoryStats, ProcessorStats, ReactorCounters,
    ReactorStats, ReactorTallies, unix_ms,
};
pub use stop::StopSignal;
pub use trace_files::trace_file_name;
pub use trace_queue::{
    TraceCause, TraceCommand, TraceEnd, TraceEvent, TraceReply, TraceSender, TraceStats,
    TracedFrame, trace_queue,
};
