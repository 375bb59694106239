//! End-to-end tests: real attendance- and verification-service on loopback,
//! real Redis and PostgreSQL, driven through generated gRPC clients.

mod absentees;
mod access;
mod audit;
mod bad_input;
mod campus;
mod check_in_code;
mod common;
mod conflicts;
mod course_report;
mod courses;
mod export;
mod face;
mod face_submission;
mod fail_codes;
mod lesson;
mod lifecycle;
mod metrics;
mod network;
mod outages;
mod startup;
mod streams;
mod sweeper;
mod traces;
