//! Charge-point CALLs whose answer the operator's backend decides: from
//! the processors to the bus bridge and back.
//!
//! ```text
//! processor --BackendRequest--> bridge (tokio mpsc, bounded) --> NATS request {prefix}.req.{action}
//! processor <--BackendReply---- bridge (crossbeam, bounded)
//! ```
//! Both channels are bounded by `[channels] capacity`. The processors hold
//! [`BackendLink`]; the bridge takes [`BridgeEnds`] when it starts.

use std::sync::Arc;

use crossbeam_channel::Receiver;

use super::calls::{BootInfo, InboundCall};
use crate::config::{BackendFallback, BusConfig};

/// A charge-point CALL whose answer the backend decides. The processor has
/// validated it; it comes back as a [`BackendReply`].
#[derive(Debug)]
pub struct BackendRequest {
    pub call: InboundCall,
    pub action: Box<str>,
    /// The request body (JSON), see README.
    pub body: bytes::Bytes,
    /// What a BootNotification said, for the admin API if it is accepted.
    pub boot: Option<Box<BootInfo>>,
}

/// What the backend said, for the processors to check and send on.
#[derive(Debug)]
pub struct BackendReply {
    pub request: BackendRequest,
    pub answer: BackendAnswer,
}

#[derive(Debug)]
pub enum BackendAnswer {
    /// The reply body, unchecked.
    Reply(bytes::Bytes),
    /// No answer: why (timeout, no responders, bus down).
    Unavailable(&'static str),
}

/// The processors' side of backend answers.
#[derive(Clone)]
pub struct BackendLink {
    requests: tokio::sync::mpsc::Sender<BackendRequest>,
    pub replies: Receiver<BackendReply>,
    config: Arc<BusConfig>,
    gateway_id: Arc<str>,
}

impl BackendLink {
    /// The request a backend receives (README, "Running several gateways"):
    /// `{"chargePointId", "gatewayId", "protocol", "messageId", "action", "payload"}`.
    pub fn request_body(
        &self,
        call: &InboundCall,
        id: &str,
        action: &str,
        payload: &str,
    ) -> bytes::Bytes {
        use crate::json_text::push_json_str;
        let mut body = String::with_capacity(payload.len() + 160);
        body.push_str("{\"chargePointId\":");
        push_json_str(&mut body, &call.charge_point);
        body.push_str(",\"gatewayId\":");
        push_json_str(&mut body, &self.gateway_id);
        body.push_str(",\"protocol\":");
        push_json_str(&mut body, call.version.subprotocol());
        body.push_str(",\"messageId\":");
        push_json_str(&mut body, id);
        body.push_str(",\"action\":");
        push_json_str(&mut body, action);
        body.push_str(",\"payload\":");
        body.push_str(payload);
        body.push('}');
        body.into()
    }

    pub fn answers_from_backend(&self, action: &str) -> bool {
        self.config.answers_from_backend(action)
    }

    pub fn fallback(&self) -> BackendFallback {
        self.config.backend_fallback
    }

    /// Hands a request to the bridge if its queue has room.
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, request: BackendRequest) -> Result<(), Refused> {
        use tokio::sync::mpsc::error::TrySendError;
        self.requests.try_send(request).map_err(|e| match e {
            TrySendError::Full(r) => Refused::Full(r),
            TrySendError::Closed(r) => Refused::Closed(r),
        })
    }
}

/// A request the bridge did not take, handed back.
#[derive(Debug)]
pub enum Refused {
    /// Its queue is full: offer it again.
    Full(BackendRequest),
    /// The bridge has stopped.
    Closed(BackendRequest),
}

/// The bridge's ends of the backend channels, until it starts.
pub struct BridgeEnds {
    pub requests: tokio::sync::mpsc::Receiver<BackendRequest>,
    pub replies: crossbeam_channel::Sender<BackendReply>,
}

/// Both backend channels, each bounded by `[channels] capacity`.
pub fn backend_channels(config: &BusConfig, capacity: usize) -> (BackendLink, BridgeEnds) {
    let (req_tx, req_rx) = tokio::sync::mpsc::channel(capacity.max(1));
    let (rep_tx, rep_rx) = crossbeam_channel::bounded(capacity);
    (
        BackendLink {
            requests: req_tx,
            replies: rep_rx,
            config: Arc::new(config.clone()),
            gateway_id: config.gateway_id.as_str().into(),
        },
        BridgeEnds {
            requests: req_rx,
            replies: rep_tx,
        },
    )
}
