//! What the board draws on: embedded-graphics `DrawTarget`s. So far the in-memory RGB canvas
//! (PNG output) and the contact sheet built on it.

pub mod canvas;
pub mod sheet;

pub use canvas::RgbCanvas;
pub use sheet::{contact_sheet, label_from_file_name, Cell};
