//! Backend answers: a charge-point CALL of an action configured
//! `answer = "backend"` becomes a NATS request on `{prefix}.req.{action}`.
//! The bridge only carries it; the processors validated the CALL and check
//! the reply (see `processor::backend`).

use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, RequestErrorKind};
use crossbeam_channel::{Sender, TrySendError};
use tokio::sync::{Semaphore, mpsc};

use crate::cross_thread::{BackendAnswer, BackendReply, BackendRequest, BusStats};

/// How long a reply waits for room in the processors' reply queue before
/// trying again (the queue is full only while processors are behind).
const REPLY_RETRY: Duration = Duration::from_millis(1);

pub struct Backend {
    pub client: Client,
    pub prefix: String,
    pub timeout: Duration,
    pub stats: Arc<BusStats>,
    /// Requests in flight at most (`[channels] capacity`).
    pub window: usize,
}

impl Backend {
    /// Runs until every processor has dropped its sender.
    pub async fn run(
        self,
        mut requests: mpsc::Receiver<BackendRequest>,
        replies: Sender<BackendReply>,
    ) {
        let this = Arc::new(self);
        let permits = Arc::new(Semaphore::new(this.window.max(1)));
        while let Some(request) = requests.recv().await {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let this = this.clone();
            let replies = replies.clone();
            tokio::spawn(async move {
                let answer = this.ask(&request).await;
                let mut reply = BackendReply { request, answer };
                loop {
                    match replies.try_send(reply) {
                        Ok(()) => break,
                        Err(TrySendError::Full(back)) => {
                            reply = back;
                            tokio::time::sleep(REPLY_RETRY).await;
                        }
                        // The processors have stopped (shutdown).
                        Err(TrySendError::Disconnected(_)) => break,
                    }
                }
                drop(permit);
            });
        }
    }

    async fn ask(&self, request: &BackendRequest) -> BackendAnswer {
        let subject = format!("{}.req.{}", self.prefix, request.action);
        let ask = async_nats::Request::new()
            .payload(request.body.clone())
            .timeout(Some(self.timeout));
        match self.client.send_request(subject, ask).await {
            Ok(message) => {
                BusStats::add(&self.stats.backend_answered, 1);
                BackendAnswer::Reply(message.payload)
            }
            Err(e) => match e.kind() {
                RequestErrorKind::TimedOut => {
                    BusStats::add(&self.stats.backend_timeouts, 1);
                    BackendAnswer::Unavailable("the backend did not answer in time")
                }
                RequestErrorKind::NoResponders => {
                    BusStats::add(&self.stats.backend_no_responders, 1);
                    BackendAnswer::Unavailable("no backend is listening")
                }
                _ => {
                    BusStats::add(&self.stats.backend_failed, 1);
                    log::warn!("bus: backend request for {}: {e}", request.action);
                    BackendAnswer::Unavailable("the bus is unavailable")
                }
            },
        }
    }
}
