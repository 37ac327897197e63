"""A charging-station session driven by python `ocpp` (pinned in
requirements.txt), a client library nobody on this project wrote.

    python ocpp_session.py ws://127.0.0.1:PORT/ocpp ID 2.1|2.0.1

Runs boot, heartbeat, status, authorize and a transaction
(TransactionEvent Started/Updated/Ended) against the gateway, printing one
JSON line per step: {"step": ..., "response": {...}}. The library checks
every message against its own copy of the OCA schemas, in both
directions. Then it prints {"step": "ready"} and serves server calls
(Reset, answered Accepted, printed as {"step": "server_call", ...}) until
stdin closes, and exits 0. Any failure exits non-zero with a traceback.
"""

import asyncio
import dataclasses
import json
import sys

import websockets
from ocpp.routing import on


def emit(step, **fields):
    print(json.dumps({"step": step, **fields}), flush=True)


def as_dict(response):
    return dataclasses.asdict(response) if dataclasses.is_dataclass(response) else response


def station_class(version):
    if version == "2.1":
        from ocpp.v21 import ChargePoint, call, call_result
    elif version == "2.0.1":
        from ocpp.v201 import ChargePoint, call, call_result
    else:
        raise SystemExit(f"unknown version {version}")

    class Station(ChargePoint):
        @on("Reset")
        async def on_reset(self, type, **kwargs):
            emit("server_call", action="Reset", type=type)
            return call_result.Reset(status="Accepted")

    return Station, call


async def session(url, station_id, version):
    Station, call = station_class(version)
    subprotocol = "ocpp" + version
    async with websockets.connect(f"{url}/{station_id}", subprotocols=[subprotocol]) as ws:
        if ws.subprotocol != subprotocol:
            raise SystemExit(f"gateway chose {ws.subprotocol!r}, not {subprotocol}")
        station = Station(station_id, ws)
        runner = asyncio.create_task(station.start())

        async def step(name, payload):
            # suppress=False: a CALLERROR raises instead of returning None.
            response = await station.call(payload, suppress=False)
            emit(name, response=as_dict(response))
            return response

        boot = await step(
            "boot",
            call.BootNotification(
                charging_station={"model": "PyModel", "vendor_name": "PyVendor",
                                  "firmware_version": "1.2.3"},
                reason="PowerUp",
            ),
        )
        if boot.status != "Accepted":
            raise SystemExit(f"boot not accepted: {boot}")
        await step("heartbeat", call.Heartbeat())
        await step(
            "status",
            call.StatusNotification(timestamp="2026-12-01T10:00:00Z", connector_status="Available",
                                    evse_id=1, connector_id=1),
        )
        token = {"id_token": "PY-TAG-1", "type": "ISO14443"}
        await step("authorize", call.Authorize(id_token=token))
        tx = {"transaction_id": f"tx-{station_id}"}
        meter = [{"timestamp": "2026-12-01T10:05:00Z",
                  "sampled_value": [{"value": 1520.5, "measurand": "Energy.Active.Import.Register"}]}]
        for seq_no, (event, trigger, extra) in enumerate([
            ("Started", "Authorized", {"id_token": token, "evse": {"id": 1, "connector_id": 1}}),
            ("Updated", "MeterValuePeriodic", {"meter_value": meter}),
            ("Ended", "StopAuthorized", {"meter_value": meter}),
        ]):
            await step(
                f"transaction_{event.lower()}",
                call.TransactionEvent(event_type=event, timestamp="2026-12-01T10:00:00Z",
                                      trigger_reason=trigger, seq_no=seq_no,
                                      transaction_info=tx, **extra),
            )
        emit("ready")
        # Serve server calls until the test closes our stdin.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        runner.cancel()


if __name__ == "__main__":
    asyncio.run(session(sys.argv[1], sys.argv[2], sys.argv[3]))
