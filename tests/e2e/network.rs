//! The network check (security options 1 and 2) with every fail reason,
//! and which address counts as the student's: the TCP peer, or what a
//! trusted proxy reports, never what a client claims.

use attn_e2e::{Clients, TeacherClient, TestEnv, bearer};
use attn_proto::v1::{self as pb, AttendanceState, GetMyRecordRequest};
use tonic::Code;

use crate::common::{assert_status, attend, list_records, start, status_of, student_forwarded_as};

const TRUST_LOOPBACK: &str = "127.0.0.0/8";

async fn teacher_forwarded_as(clients: &Clients, n: usize, forwarded_for: &str) -> TeacherClient {
    let token = clients.login(&format!("demo_teacher_{n}"), "password").await.expect("demo teacher signs in");
    clients.teacher(bearer(&token).with("x-forwarded-for", forwarded_for))
}

#[track_caller]
fn assert_attended(record: &pb::AttendanceRecord) {
    assert_eq!(status_of(record), pb::RecordStatus::Attended, "{record:?}");
    assert!(record.is_attended);
    assert_eq!(record.fail_reason, "");
    assert_eq!(record.fail_code(), pb::FailCode::Unspecified);
    assert!(record.attendance_time.is_some());
}

#[track_caller]
fn assert_failed(record: &pb::AttendanceRecord, reason: &str) {
    assert_eq!(status_of(record), pb::RecordStatus::Failed, "{record:?}");
    assert!(!record.is_attended);
    assert_eq!(record.fail_reason, reason);
    // A network failure's text is its code's name.
    assert_eq!(record.fail_code().as_str_name(), format!("FAIL_CODE_{reason}"), "{record:?}");
}

#[tokio::test]
async fn option_1_admits_a_student_from_anywhere_even_with_no_known_address() {
    let env = TestEnv::start_with(|opts| opts.attendance.trusted_proxies = TRUST_LOOPBACK.into()).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 1, &["10.9.9.0/24"]).await.unwrap();
    let id = session.attendance_id;
    for (n, forwarded_for) in [(1, "203.0.113.5"), (2, "unknown"), (3, "10.9.9.7")] {
        let mut student = student_forwarded_as(&clients, n, forwarded_for).await;
        assert_attended(&attend(&mut student, &id, "r").await.unwrap());
    }
    // Through the trusted proxy, but with no client named at all.
    let mut nameless = clients.demo_student(4).await;
    assert_attended(&attend(&mut nameless, &id, "r").await.unwrap());
}

#[tokio::test]
async fn option_2_admits_a_student_inside_the_session_networks() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 2, &["192.0.2.0/24", "127.0.0.0/16"]).await.unwrap();
    assert_eq!(session.networks, vec!["192.0.2.0/24", "127.0.0.0/16"]);
    let mut student = clients.demo_student(1).await;
    assert_attended(&attend(&mut student, &session.attendance_id, "r").await.unwrap());
}

#[tokio::test]
async fn option_2_records_a_student_outside_the_networks_as_wifi_failed() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 2, &["10.9.9.0/24"]).await.unwrap();
    let id = session.attendance_id;
    let mut student = clients.demo_student(1).await;

    // A normal answer carrying the verdict, not an error.
    let record = attend(&mut student, &id, "r").await.unwrap();
    assert_failed(&record, "WIFI_FAILED");
    assert_eq!(record.student_number, "demo_student_1");

    // The teacher's roster and the student's own view say the same.
    assert_eq!(list_records(&mut teacher, &id).await.records, vec![record.clone()]);
    let mine = student
        .get_my_record(GetMyRecordRequest { attendance_id: id.clone() })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(mine, record);
}

#[tokio::test]
async fn option_2_without_networks_uses_the_teachers_address_widened_to_its_slash_24() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 2, &[]).await.unwrap();
    assert_eq!(session.networks, vec!["127.0.0.0/24"]);
    let listed = list_records(&mut teacher, &session.attendance_id).await;
    assert_eq!(listed.attendance.unwrap().networks, vec!["127.0.0.0/24"]);
    let mut student = clients.demo_student(1).await;
    assert_attended(&attend(&mut student, &session.attendance_id, "r").await.unwrap());
}

#[tokio::test]
async fn a_teacher_behind_a_trusted_proxy_gets_the_classroom_of_the_address_it_reports() {
    let env = TestEnv::start_with(|opts| opts.attendance.trusted_proxies = TRUST_LOOPBACK.into()).await;
    let clients = env.clients().await;
    let mut teacher = teacher_forwarded_as(&clients, 1, "10.9.9.1").await;
    let session = start(&mut teacher, "Physics", 2, &[]).await.unwrap();
    assert_eq!(session.networks, vec!["10.9.9.0/24"]);

    let mut teacher_v6 = teacher_forwarded_as(&clients, 2, "[2001:db8:1:2::10]:443").await;
    let session_v6 = start(&mut teacher_v6, "Physics", 2, &[]).await.unwrap();
    assert_eq!(session_v6.networks, vec!["2001:db8:1:2::/64"]);
    let mut student_v6 = student_forwarded_as(&clients, 1, "2001:db8:1:2:abcd::7").await;
    assert_attended(&attend(&mut student_v6, &session_v6.attendance_id, "r").await.unwrap());

    // No address known and no networks given: nothing to widen.
    let mut anonymous = teacher_forwarded_as(&clients, 3, "unknown").await;
    let result = start(&mut anonymous, "Physics", 2, &[]).await;
    assert_status(result, Code::FailedPrecondition, "networks");
    // Giving the networks works from anywhere.
    start(&mut anonymous, "Physics", 2, &["10.9.9.0/24"]).await.unwrap();
}

#[tokio::test]
async fn campus_networks_admit_a_student_outside_the_session_networks() {
    let env = TestEnv::start_with(|opts| opts.verification.campus_networks = "172.16.0.0/12, 127.0.0.0/8".into()).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 2, &["10.9.9.0/24"]).await.unwrap();
    let mut student = clients.demo_student(1).await;
    assert_attended(&attend(&mut student, &session.attendance_id, "r").await.unwrap());
}

#[tokio::test]
async fn a_trusted_proxy_reports_the_students_address() {
    let env = TestEnv::start_with(|opts| opts.attendance.trusted_proxies = TRUST_LOOPBACK.into()).await;
    let clients = env.clients().await;
    let mut teacher_a = clients.demo_teacher(1).await;
    let mut teacher_b = clients.demo_teacher(2).await;
    let classroom = start(&mut teacher_a, "Physics", 2, &["10.9.9.0/24"]).await.unwrap();
    let loopback = start(&mut teacher_b, "Chemistry", 2, &["127.0.0.0/16"]).await.unwrap();

    let mut student = student_forwarded_as(&clients, 1, "10.9.9.7").await;
    assert_attended(&attend(&mut student, &classroom.attendance_id, "r").await.unwrap());
    assert_failed(&attend(&mut student, &loopback.attendance_id, "r").await.unwrap(), "WIFI_FAILED");

    // IPv4-mapped IPv6 from the proxy compares as IPv4.
    let mut mapped = student_forwarded_as(&clients, 2, "::ffff:10.9.9.8").await;
    assert_attended(&attend(&mut mapped, &classroom.attendance_id, "r").await.unwrap());
}

#[tokio::test]
async fn without_trusted_proxies_a_forwarded_header_changes_nothing() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher_a = clients.demo_teacher(1).await;
    let mut teacher_b = clients.demo_teacher(2).await;
    let classroom = start(&mut teacher_a, "Physics", 2, &["10.9.9.0/24"]).await.unwrap();
    let loopback = start(&mut teacher_b, "Chemistry", 2, &["127.0.0.0/16"]).await.unwrap();

    // The client claims to be in the classroom; its TCP peer says otherwise.
    let mut student = student_forwarded_as(&clients, 1, "10.9.9.7").await;
    assert_failed(&attend(&mut student, &classroom.attendance_id, "r").await.unwrap(), "WIFI_FAILED");
    assert_attended(&attend(&mut student, &loopback.attendance_id, "r").await.unwrap());
    // Nor can it hide its address.
    let mut hiding = student_forwarded_as(&clients, 2, "unknown").await;
    assert_attended(&attend(&mut hiding, &loopback.attendance_id, "r").await.unwrap());
}

#[tokio::test]
async fn a_trusted_proxy_that_names_no_client_gives_wifi_required_but_ip_missing() {
    let env = TestEnv::start_with(|opts| opts.attendance.trusted_proxies = TRUST_LOOPBACK.into()).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    // Only a missing address can fail here.
    let session = start(&mut teacher, "Physics", 2, &["10.9.0.0/16", "203.0.113.0/24"]).await.unwrap();
    let id = session.attendance_id;

    let mut unknown = student_forwarded_as(&clients, 1, "unknown").await;
    let record = attend(&mut unknown, &id, "r1").await.unwrap();
    assert_failed(&record, "WIFI_REQUIRED_BUT_IP_MISSING");
    let mut garbage = student_forwarded_as(&clients, 2, "203.0.113.5, not-an-address").await;
    assert_failed(&attend(&mut garbage, &id, "r1").await.unwrap(), "WIFI_REQUIRED_BUT_IP_MISSING");
    let mut silent = clients.demo_student(3).await;
    assert_failed(&attend(&mut silent, &id, "r1").await.unwrap(), "WIFI_REQUIRED_BUT_IP_MISSING");

    // Once the proxy names the student, the failed check-in may be retried.
    let mut named = student_forwarded_as(&clients, 1, "10.9.9.7").await;
    assert_attended(&attend(&mut named, &id, "r2").await.unwrap());
}

#[tokio::test]
async fn a_forged_leftmost_hop_is_ignored_for_the_one_the_proxy_appended() {
    let env = TestEnv::start_with(|opts| opts.attendance.trusted_proxies = TRUST_LOOPBACK.into()).await;
    let clients = env.clients().await;
    let mut teacher_a = clients.demo_teacher(1).await;
    let mut teacher_b = clients.demo_teacher(2).await;
    let classroom = start(&mut teacher_a, "Physics", 2, &["10.9.9.0/24"]).await.unwrap();
    let home = start(&mut teacher_b, "Chemistry", 2, &["203.0.113.0/24"]).await.unwrap();

    // The student wrote "10.9.9.7"; the proxy appended the real 203.0.113.5.
    let mut student = student_forwarded_as(&clients, 1, "10.9.9.7, 203.0.113.5").await;
    assert_failed(&attend(&mut student, &classroom.attendance_id, "r").await.unwrap(), "WIFI_FAILED");
    assert_attended(&attend(&mut student, &home.attendance_id, "r").await.unwrap());
}

/// The Kubernetes base trusts 10.0.0.0/8 as the proxies' range, and campus
/// Wi-Fi is often 10.x too: a student inside it must not be able to pick an
/// address by writing it into the header.
#[tokio::test]
async fn a_student_inside_the_trusted_range_cannot_forge_a_hop() {
    let env =
        TestEnv::start_with(|opts| opts.attendance.trusted_proxies = format!("{TRUST_LOOPBACK},10.0.0.0/8")).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let classroom = start(&mut teacher, "Physics", 2, &["10.20.30.0/24"]).await.unwrap();
    let id = classroom.attendance_id;

    // At 10.50.3.17 and wrote "10.20.30.77"; the front door appended 10.50.3.17.
    let mut forger = student_forwarded_as(&clients, 1, "10.20.30.77, 10.50.3.17").await;
    assert_failed(&attend(&mut forger, &id, "r").await.unwrap(), "WIFI_FAILED");
    // Every hop in the trusted range: still only the one the front door appended.
    let mut chained = student_forwarded_as(&clients, 2, "10.20.30.77, 10.1.1.1, 10.50.3.18").await;
    assert_failed(&attend(&mut chained, &id, "r").await.unwrap(), "WIFI_FAILED");
    // The header sent twice: the values are one list, and the last hop counts.
    let token = clients.login("demo_student_3", "password").await.unwrap();
    let mut twice = clients
        .student(attn_e2e::bearer(&token).with("x-forwarded-for", "10.20.30.77").with("x-forwarded-for", "10.50.3.19"));
    assert_failed(&attend(&mut twice, &id, "r").await.unwrap(), "WIFI_FAILED");
    // A student really in the classroom passes through the same front door.
    let mut present = student_forwarded_as(&clients, 4, "10.20.30.77, 10.20.30.40").await;
    assert_attended(&attend(&mut present, &id, "r").await.unwrap());
}

/// Campus load balancer → Envoy → attendance-service: two hops are the
/// proxies', the client is the second from the right.
#[tokio::test]
async fn behind_two_proxies_the_hop_the_outer_one_appended_is_the_client() {
    let env = TestEnv::start_with(|opts| {
        opts.attendance.trusted_proxies = TRUST_LOOPBACK.into();
        opts.attendance.trusted_proxy_hops = 2;
    })
    .await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let classroom = start(&mut teacher, "Physics", 2, &["10.9.9.0/24"]).await.unwrap();
    let id = classroom.attendance_id;

    let mut present = student_forwarded_as(&clients, 1, "203.0.113.66, 10.9.9.7, 192.0.2.10").await;
    assert_attended(&attend(&mut present, &id, "r").await.unwrap());
    let mut forger = student_forwarded_as(&clients, 2, "10.9.9.7, 203.0.113.6, 192.0.2.10").await;
    assert_failed(&attend(&mut forger, &id, "r").await.unwrap(), "WIFI_FAILED");
    // Fewer hops than proxies: the chain was bypassed, so nothing is believed.
    let mut short = student_forwarded_as(&clients, 3, "10.9.9.7").await;
    assert_failed(&attend(&mut short, &id, "r").await.unwrap(), "WIFI_REQUIRED_BUT_IP_MISSING");
}

/// A session's networks say which address to claim; students are not told.
#[tokio::test]
async fn only_the_owning_teacher_is_shown_a_sessions_networks() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 2, &["127.0.0.0/16"]).await.unwrap();
    let id = session.attendance_id.clone();
    assert_eq!(session.networks, ["127.0.0.0/16"]);

    let mut student = clients.demo_student(1).await;
    let found = student
        .find_active_attendances(pb::FindActiveAttendancesRequest {
            lesson_name: "Physics".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .attendances;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].attendance_id, id);
    assert!(found[0].networks.is_empty(), "{:?}", found[0]);
    attend(&mut student, &id, "r").await.unwrap();
    let mine = |student: &mut attn_e2e::StudentClient| {
        let mut student = student.clone();
        async move { student.list_my_attendance(pb::ListMyAttendanceRequest::default()).await.unwrap().into_inner().entries }
    };
    let live = mine(&mut student).await;
    assert!(live[0].attendance.as_ref().unwrap().networks.is_empty(), "{:?}", live[0]);

    // The owner sees them everywhere.
    assert_eq!(list_records(&mut teacher, &id).await.attendance.unwrap().networks, ["127.0.0.0/16"]);
    let open = teacher.get_live_attendance(pb::GetLiveAttendanceRequest {}).await.unwrap().into_inner();
    assert_eq!(open.attendance.unwrap().networks, ["127.0.0.0/16"]);

    // And once archived, still only the owner.
    crate::common::finish_and_archive(&env, &teacher, &id).await;
    let archived = mine(&mut student).await;
    assert_eq!(archived[0].attendance.as_ref().unwrap().state(), AttendanceState::Archived);
    assert!(archived[0].attendance.as_ref().unwrap().networks.is_empty(), "{:?}", archived[0]);
    assert_eq!(list_records(&mut teacher, &id).await.attendance.unwrap().networks, ["127.0.0.0/16"]);
}

#[tokio::test]
async fn a_session_open_to_everyone_is_refused_naming_networks() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    for wide in ["0.0.0.0/0", "::/0", "10.0.0.0/8", "2001:db8::/32", "::ffff:0.0.0.0/96"] {
        for option in [2, 3] {
            let result = start(&mut teacher, "Physics", option, &["10.9.9.0/24", wide]).await;
            let status = result.expect_err(wide);
            assert_eq!(status.code(), Code::InvalidArgument, "{wide}: {status:?}");
            assert!(status.message().starts_with("networks:"), "{}", status.message());
            assert!(status.message().contains("ATTN_CAMPUS_NETWORKS"), "{}", status.message());
        }
    }
    // The widest allowed: a /16 and a /48.
    start(&mut teacher, "Physics", 2, &["10.9.0.0/16", "2001:db8:1::/48"]).await.unwrap();
}

#[tokio::test]
async fn a_teacher_whose_networks_are_all_of_the_other_family_is_told_at_start() {
    let env = TestEnv::start_with(|opts| opts.attendance.trusted_proxies = TRUST_LOOPBACK.into()).await;
    let clients = env.clients().await;

    // On IPv6, listing only IPv4: students on IPv6 like the teacher would all fail.
    let mut on_ipv6 = teacher_forwarded_as(&clients, 1, "2001:db8:1:2::10").await;
    assert_status(start(&mut on_ipv6, "Physics", 2, &["10.9.9.0/24"]).await, Code::FailedPrecondition, "IPv6");
    assert_status(start(&mut on_ipv6, "Physics", 3, &["10.9.9.0/24"]).await, Code::FailedPrecondition, "IPv6");
    // On IPv4, listing only IPv6: the reverse.
    let mut on_ipv4 = teacher_forwarded_as(&clients, 2, "10.9.9.1").await;
    assert_status(start(&mut on_ipv4, "Physics", 2, &["2001:db8:1:2::/64"]).await, Code::FailedPrecondition, "IPv4");
    // Option 1 checks no network; both families together are fine.
    start(&mut on_ipv6, "Physics", 1, &["10.9.9.0/24"]).await.unwrap();
    start(&mut on_ipv4, "Physics", 2, &["2001:db8:1:2::/64", "10.9.9.0/24"]).await.unwrap();
}

#[tokio::test]
async fn campus_networks_of_the_teachers_family_make_a_one_family_session_fine() {
    let env = TestEnv::start_with(|opts| {
        opts.attendance.trusted_proxies = TRUST_LOOPBACK.into();
        opts.verification.campus_networks = "2001:db8::/32".into();
    })
    .await;
    let clients = env.clients().await;
    let mut on_ipv6 = teacher_forwarded_as(&clients, 1, "2001:db8:1:2::10").await;
    start(&mut on_ipv6, "Physics", 2, &["10.9.9.0/24"]).await.unwrap();
}
