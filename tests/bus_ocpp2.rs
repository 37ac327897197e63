//! OCPP 2.0.1 and 2.1 over the NATS bus (a real nats-server, a gateway
//! process): server calls sent as `{prefix}.cmd.{id}` requests, validated
//! against the version's request schema before sending and its response
//! schema on return; 2.1 CALLs a charging station sends first answered by
//! the backend when `[bus.answers]` says so (else `NotSupported`); 2.1 SEND
//! messages published as events and never answered.

mod common;

use std::time::Duration;

use common::nats::*;
use common::*;
use serde_json::json;

const SECOND: Duration = Duration::from_secs(1);

fn gateway(nats: &NatsServer) -> GatewayProcess {
    let bus = bus_table(
        &nats.url(),
        "gw-2x",
        "\n[bus.answers]\nNotifySettlement = \"backend\"\n",
    );
    let config = process_config(&format!(
        "[reactors]\ncount = 1\npin_cores = false\n\n\
         [websocket]\nclose_timeout = \"500ms\"\n\n\
         [shutdown]\ngrace = \"3s\"\n\n{bus}"
    ))
    .replace(
        "[ocpp]\n",
        "[ocpp]\nsubprotocols = [\"ocpp2.1\", \"ocpp2.0.1\", \"ocpp1.6\"]\n",
    );
    GatewayProcess::start("bus-ocpp2", &config)
}

fn boot_2x(cp: &mut ChargePoint) {
    let boot = cp.call_ok(
        "BootNotification",
        json!({"reason": "PowerUp",
               "chargingStation": {"vendorName": "TestVendor", "model": "TestModel"}}),
    );
    assert_eq!(boot["status"], "Accepted", "{boot}");
}

#[test]
fn server_calls_for_2_0_1_and_2_1_over_the_bus_are_checked_both_ways() {
    let nats = NatsServer::start();
    let gw = gateway(&nats);
    let bus = Bus::connect(&nats.url());
    let mut v21 = ChargePoint::connect_with(gw.addr, "ocpp2.1", "BX21-1");
    let mut v201 = ChargePoint::connect_with(gw.addr, "ocpp2.0.1", "BX201-1");
    boot_2x(&mut v21);
    boot_2x(&mut v201);
    wait_connect_event(&bus, "BX21-1");
    wait_connect_event(&bus, "BX201-1");

    // 2.1-only action (GetTariffs), answered well: 200 with the payload.
    let get_tariffs = json!({"action": "GetTariffs", "payload": {"evseId": 1}});
    let player = answer_one_call(v21, |call| {
        Some(json!([3, call[1], {"status": "NoTariff"}]))
    });
    let reply = bus
        .request_retrying("ocpp.cmd.BX21-1", &get_tariffs, 5 * SECOND, 5 * SECOND)
        .expect("GetTariffs to BX21-1");
    assert_eq!(
        reply,
        json!({"status": 200, "payload": {"status": "NoTariff"}}),
        "{reply}"
    );
    let (v21, call) = player.join().expect("station thread");
    assert_eq!(call[0], 2, "{call}");
    assert_eq!(call[2], "GetTariffs", "{call}");
    assert_eq!(call[3], json!({"evseId": 1}), "{call}");

    // A CALLRESULT that breaks GetTariffsResponse: the request fails with
    // 502 and the station is told so in a CALLRESULTERROR (type 5).
    let player = answer_one_call(v21, |call| Some(json!([3, call[1], {"status": "Perhaps"}])));
    let reply = bus
        .request("ocpp.cmd.BX21-1", &get_tariffs, 5 * SECOND)
        .expect("GetTariffs answered badly");
    assert_eq!(reply["status"], 502, "{reply}");
    let (mut v21, call) = player.join().expect("station thread");
    let result_error = v21.recv();
    assert_eq!(result_error[0], 5, "{result_error}");
    assert_eq!(result_error[1], call[1], "{result_error}");
    assert_eq!(
        result_error[2], "PropertyConstraintViolation",
        "{result_error}"
    );
    assert_eq!(result_error[4]["field"], "status", "{result_error}");

    // A request that breaks its schema never reaches the station: 400.
    let bad = json!({"action": "GetTariffs", "payload": {"evseId": "one"}});
    let reply = bus
        .request("ocpp.cmd.BX21-1", &bad, 5 * SECOND)
        .expect("bad GetTariffs");
    assert_eq!(reply["status"], 400, "{reply}");
    // A 2.1 action is unknown to a 2.0.1 station: refused, not sent.
    let reply = bus
        .request("ocpp.cmd.BX201-1", &get_tariffs, 5 * SECOND)
        .expect("GetTariffs to a 2.0.1 station");
    assert_eq!(reply["status"], 400, "{reply}");

    // 2.0.1: GetVariables answered well; the station's next frame is the
    // CALL, so nothing reached it for the refused requests above.
    let get_variables = json!({"action": "GetVariables", "payload": {"getVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}});
    let player = answer_one_call(v201, |call| {
        Some(
            json!([3, call[1], {"getVariableResult": [{"attributeStatus": "Accepted",
            "attributeValue": "300", "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "HeartbeatInterval"}}]}]),
        )
    });
    let reply = bus
        .request("ocpp.cmd.BX201-1", &get_variables, 5 * SECOND)
        .expect("GetVariables to BX201-1");
    assert_eq!(reply["status"], 200, "{reply}");
    assert_eq!(
        reply["payload"]["getVariableResult"][0]["attributeValue"], "300",
        "{reply}"
    );
    let (v201, call) = player.join().expect("station thread");
    assert_eq!(call[2], "GetVariables", "{call}");
    // On 2.0.1 a broken CALLRESULT fails the call (502) and nothing is sent
    // back: 2.0.1 has no CALLRESULTERROR.
    let player = answer_one_call(v201, |call| {
        Some(json!([3, call[1], {"getVariableResult": []}]))
    });
    let reply = bus
        .request("ocpp.cmd.BX201-1", &get_variables, 5 * SECOND)
        .expect("GetVariables answered badly");
    assert_eq!(reply["status"], 502, "{reply}");
    let (mut v201, _) = player.join().expect("station thread");
    let hb = v201.call("Heartbeat", json!({}));
    assert_eq!(hb[0], 3, "the next frame answers the Heartbeat: {hb}");
    let hb = v21.call("Heartbeat", json!({}));
    assert_eq!(hb[0], 3, "the next frame answers the Heartbeat: {hb}");
}

#[test]
fn the_backend_answers_2_1_calls_it_is_given_and_sends_reach_the_stream() {
    let nats = NatsServer::start();
    let gw = gateway(&nats);
    let bus = Bus::connect(&nats.url());
    let backend = Listener::start(
        &nats.url(),
        "ocpp.req.NotifySettlement",
        Some("backends"),
        |_| Some(json!({"receiptId": "R-77"})),
    );
    let mut cp = ChargePoint::connect_with(gw.addr, "ocpp2.1", "BK21-1");
    boot_2x(&mut cp);
    wait_connect_event(&bus, "BK21-1");

    let settlement = json!({"pspRef": "psp-1", "status": "Settled",
        "settlementAmount": 12.5, "settlementTime": "2026-12-02T10:00:00Z"});
    let answer = cp.call("NotifySettlement", settlement.clone());
    assert_eq!(answer[0], 3, "{answer}");
    assert_eq!(
        answer[2],
        json!({"receiptId": "R-77"}),
        "the backend's answer"
    );
    let seen = backend.seen();
    assert_eq!(seen.len(), 1, "backend requests: {seen:?}");
    assert_eq!(seen[0].body["protocol"], "ocpp2.1", "{}", seen[0].body);
    assert_eq!(seen[0].body["action"], "NotifySettlement");
    assert_eq!(seen[0].body["payload"], settlement);

    // Broken CALLs are refused by the gateway; the backend sees nothing.
    let bad = cp.call("NotifySettlement", json!({"pspRef": "psp-2"}));
    assert_eq!(bad[0], 4, "{bad}");
    assert_eq!(bad[2], "OccurrenceConstraintViolation", "{bad}");
    assert_eq!(backend.count(), 1);
    // A backend reply that breaks NotifySettlementResponse is not passed on.
    backend.stop();
    let wrong = Listener::start(
        &nats.url(),
        "ocpp.req.NotifySettlement",
        Some("backends"),
        |_| Some(json!({"receiptId": 77})),
    );
    let error = cp.call("NotifySettlement", settlement.clone());
    assert_eq!(error[0], 4, "{error}");
    assert_eq!(error[2], "InternalError", "{error}");
    assert_eq!(wrong.stop().len(), 1);

    // A station-first 2.1 action the backend was not given: NotSupported.
    let alarm = cp.call(
        "NotifyDERAlarm",
        json!({"controlType": "EnterService", "timestamp": "2026-12-02T10:00:00Z"}),
    );
    assert_eq!(alarm[0], 4, "{alarm}");
    assert_eq!(alarm[2], "NotSupported", "{alarm}");

    // A SEND is published as an event (kind "send") and never answered.
    let send = json!([6, "s-1", "NotifyPeriodicEventStream",
        {"id": 3, "pending": 0, "basetime": "2026-12-02T10:00:00Z",
         "data": [{"t": 0.5, "v": "230.1"}]}]);
    cp.send_text(&send.to_string());
    let hb = cp.call("Heartbeat", json!({}));
    assert_eq!(hb[0], 3, "nothing answered the SEND: {hb}");
    let mut reader = EventReader::new("OCPP_EVENTS");
    bus.read_until(&mut reader, "the SEND event", 10 * SECOND, |events| {
        events
            .iter()
            .any(|e| e.cp() == "BK21-1" && e.kind() == "send")
    });
    let event = reader
        .events
        .iter()
        .find(|e| e.cp() == "BK21-1" && e.kind() == "send")
        .expect("a send event");
    assert_eq!(
        event.body["action"], "NotifyPeriodicEventStream",
        "{}",
        event.raw
    );
    assert_eq!(event.body["id"], "s-1", "{}", event.raw);
    assert_eq!(event.body["payload"], send[3], "{}", event.raw);
}
