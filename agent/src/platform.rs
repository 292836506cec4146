//! Facts about the endpoint that each OS gives in its own way, one function
//! per concern with one body per OS behind `cfg` (the primary MAC address,
//! [`mac`]). A platform without an implementation fails closed with an error
//! that says what to configure instead.

pub mod mac;
pub(crate) mod route_msg;
