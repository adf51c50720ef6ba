//! The relay end to end: in-process relays on 127.0.0.1:0 with tempfile SQLite databases, real
//! HTTP, real core `ClientSession` phones. The tests of the `doorstep` binary itself are in
//! cli/tests/binary, which shares this harness.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_debug_implementations)]

mod admin_api;
mod auth;
mod bad_input;
mod bodies_in_hand;
mod cache;
mod catalogue;
mod catalogue_edges;
mod changes_or_whole;
mod compaction_race;
mod compressed_bodies;
mod connections;
mod database_black_hole;
mod database_down;
mod database_lock;
mod document_copy;
mod document_list;
mod every_route;
mod fuzz_replay;
mod growth_share;
mod harness;
mod landing;
mod link_proxy;
mod many_documents;
mod many_heads;
mod poison;
mod poison_cost;
mod proxies;
mod request_pieces;
mod restart;
mod reviews;
mod roster_refs;
mod rules;
mod scale_out_writes;
mod set_aside;
mod shared_throttles;
mod sync_flow;
mod wipe_report;
mod work_queue;
mod wrong_clock;
