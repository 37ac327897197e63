pub mod ocpp;
