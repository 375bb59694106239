//! The flows of every security option, live rosters, the archive, face
//! results and sign-outs, with every service twice on a Redis Cluster.

use std::collections::HashSet;

use attn_e2e::{ClusterAccess, ClusterEnv, bearer, eventually};
use attn_proto::v1::{
    self as pb, FailStudentRequest, ListRecordsRequest, LogoutRequest, WatchMyRecordRequest, WhoAmIRequest,
};
use futures::StreamExt;
use tonic::Code;

use crate::support::{
    RosterWatch, SELFIE, WAIT, archived_check_ins, attend, finish_and_wait_archived, sign_in_all, start, status_of,
};

fn names(prefix: &str, numbers: impl IntoIterator<Item = usize>) -> Vec<String> {
    numbers.into_iter().map(|n| format!("{prefix}_{n}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn option_1_check_ins_through_either_replica_are_on_both_rosters() {
    let cluster = ClusterEnv::start(ClusterAccess::Shared).await;
    let (a, b) = (cluster.clients_a().await, cluster.clients_b().await);
    let mut teacher = a.demo_teacher(1).await;
    let id = start(&mut teacher, "Cluster physics", 1, &[]).await.attendance_id;

    let tokens = sign_in_all(&[a.clone(), b.clone()], &names("demo_student", 1..=6)).await;
    for (n, token) in tokens.iter().enumerate() {
        let replica = if n % 2 == 0 { &a } else { &b };
        let record = attend(&mut replica.student(bearer(token)), &id, &format!("r{n}"), &[]).await.unwrap();
        assert_eq!(status_of(&record), pb::RecordStatus::Attended, "{record:?}");
        assert_eq!(record.student_number, format!("demo_student_{}", n + 1));
    }
    // The same request again, through the other replica: the first answer.
    let again = attend(&mut b.student(bearer(&tokens[0])), &id, "r0", &[]).await.unwrap();
    assert_eq!(again.student_number, "demo_student_1");
    assert_eq!(status_of(&again), pb::RecordStatus::Attended);

    let token = a.login("demo_teacher_1", "password").await.unwrap();
    for replica in [&a, &b] {
        let listed = replica
            .teacher(bearer(&token))
            .list_records(ListRecordsRequest { attendance_id: id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.records.len(), 6, "{listed:?}");
        assert!(listed.records.iter().all(|r| r.is_attended), "{listed:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn option_2_admits_the_sessions_network_and_fails_others_through_either_replica() {
    let cluster = ClusterEnv::start(ClusterAccess::Shared).await;
    let (a, b) = (cluster.clients_a().await, cluster.clients_b().await);
    // Started on B, checked by verification-service A and B in turn.
    let mut here = b.demo_teacher(1).await;
    let open = start(&mut here, "Cluster networks", 2, &["127.0.0.0/16"]).await.attendance_id;
    // Elsewhere: nobody on loopback is on it.
    let mut elsewhere = a.demo_teacher(2).await;
    let far = start(&mut elsewhere, "Cluster networks far away", 2, &["10.9.9.0/24"]).await.attendance_id;

    let tokens = sign_in_all(&[a.clone(), b.clone()], &names("demo_student", 11..=14)).await;
    for (n, token) in tokens.iter().enumerate() {
        let replica = if n % 2 == 0 { &a } else { &b };
        let record = attend(&mut replica.student(bearer(token)), &open, "", &[]).await.unwrap();
        assert_eq!(status_of(&record), pb::RecordStatus::Attended, "{record:?}");
        let refused = attend(&mut replica.student(bearer(token)), &far, "", &[]).await.unwrap();
        assert_eq!(status_of(&refused), pb::RecordStatus::Failed, "{refused:?}");
        assert_eq!(refused.fail_reason, "WIFI_FAILED");
        assert_eq!(refused.fail_code(), pb::FailCode::WifiFailed);
    }
}

/// Follows the student's record on a stream until it is final.
async fn watch_until_final(student: &mut attn_e2e::StudentClient, id: &str) -> Vec<pb::AttendanceRecord> {
    let mut stream =
        student.watch_my_record(WatchMyRecordRequest { attendance_id: id.into() }).await.unwrap().into_inner();
    let mut seen = Vec::new();
    while let Some(message) = tokio::time::timeout(WAIT, stream.next()).await.expect("the face verdict in time") {
        seen.push(message.unwrap().record.unwrap());
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn option_3_face_results_are_collected_by_a_sweeper_and_reach_the_other_replica_live() {
    let cluster = ClusterEnv::start(ClusterAccess::Shared).await;
    let (a, b) = (cluster.clients_a().await, cluster.clients_b().await);
    let env = &cluster.env;
    let csv = format!(
        "school_number,full_name,role,photo_url,password\ns_mismatch_1,Student Mismatch,student,{}/s_mismatch_1.jpg,password\n",
        cluster.standin.photos_url()
    );
    assert_eq!(attendance_service::import_roster(&env.archive, &csv, false).await.unwrap().rejected, 0);
    let mut teacher = a.demo_teacher(1).await;
    let id = start(&mut teacher, "Cluster anatomy", 3, &["127.0.0.0/16"]).await.attendance_id;

    let students = vec!["demo_student_21".to_owned(), "demo_student_22".to_owned(), "s_mismatch_1".to_owned()];
    let tokens = sign_in_all(&[a.clone(), b.clone()], &students).await;
    let mut finals = Vec::new();
    for (n, token) in tokens.iter().enumerate() {
        // Submitted through one replica, followed on the other.
        let (submit, follow) = if n % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let first = attend(&mut submit.student(bearer(token)), &id, "", SELFIE).await.unwrap();
        assert_eq!(status_of(&first), pb::RecordStatus::Pending, "{first:?}");
        assert_eq!(first.fail_reason, "FACE_RECOGNITION_PENDING");
        let seen = watch_until_final(&mut follow.student(bearer(token)), &id).await;
        finals.push(seen.last().cloned().expect("a record on the stream"));
    }
    assert_eq!(status_of(&finals[0]), pb::RecordStatus::Attended, "{finals:?}");
    assert_eq!(status_of(&finals[1]), pb::RecordStatus::Attended, "{finals:?}");
    assert_eq!(status_of(&finals[2]), pb::RecordStatus::Failed, "{finals:?}");
    assert_eq!(finals[2].fail_reason, format!("FACE_VERIFICATION_FAILED: {}", face_gateway_standin::MISMATCH_REASON));
    assert_eq!(finals[2].fail_code(), pb::FailCode::FaceVerificationFailed);

    // Every job left the queue, and the gateway was asked once per check-in.
    let queue = attn_store::face_queue::FaceQueue::new(env.live.pool().clone(), env.live.keys().clone());
    eventually(WAIT, "the face queue to be empty", || async { (queue.len().await.ok()? == 0).then_some(()) }).await;
    assert_eq!(cluster.standin.submits().await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_roster_stream_on_the_other_replica_sees_check_ins_made_through_the_first() {
    let cluster = ClusterEnv::start(ClusterAccess::Shared).await;
    let (a, b) = (cluster.clients_a().await, cluster.clients_b().await);
    let token = a.login("demo_teacher_1", "password").await.unwrap();
    let mut teacher = a.teacher(bearer(&token));
    let id = start(&mut teacher, "Cluster chemistry", 1, &[]).await.attendance_id;
    let replicas = [(cluster.env.attendance_addr, a.clone()), (cluster.replica_b.addr, b.clone())];
    // On B; the session started on A, and every check-in goes through A.
    let roster = RosterWatch::start(replicas, token.clone(), id.clone(), 1).await;

    let students = names("demo_student", 31..=60);
    let tokens = sign_in_all(std::slice::from_ref(&a), &students).await;
    futures::future::join_all(tokens.iter().enumerate().map(|(n, token)| {
        let a = a.clone();
        let id = id.clone();
        async move {
            let record = attend(&mut a.student(bearer(token)), &id, &format!("r{n}"), &[]).await.unwrap();
            assert!(record.is_attended, "{record:?}");
        }
    }))
    .await;
    let everyone: HashSet<String> = students.iter().cloned().collect();
    roster.wait_for_attended(&everyone, "the stream on replica B to show the 30 check-ins made through A").await;

    // A teacher's edit through A reaches B's stream too.
    teacher
        .fail_student(FailStudentRequest {
            attendance_id: id.clone(),
            student_number: "demo_student_31".into(),
            reason: "was not in the room".into(),
        })
        .await
        .unwrap();
    eventually(WAIT, "the stream on replica B to show the edit made through A", || async {
        let state = roster.state();
        state.records.get("demo_student_31").is_some_and(|r| !r.is_attended).then_some(())
    })
    .await;
    let state = roster.state();
    assert_eq!(state.opened_on, vec![cluster.replica_b.addr], "one stream, never reopened");
    assert!(state.regressions.is_empty(), "{:?}", state.regressions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ended_sessions_are_archived_into_postgresql_by_the_sweepers() {
    let cluster = ClusterEnv::start(ClusterAccess::Shared).await;
    let (a, b) = (cluster.clients_a().await, cluster.clients_b().await);
    let env = &cluster.env;
    // Four sessions: their keys land on different masters.
    let teacher_tokens = sign_in_all(&[a.clone(), b.clone()], &names("demo_teacher", 1..=4)).await;
    let mut sessions = Vec::new();
    for (n, token) in teacher_tokens.iter().enumerate() {
        let replica = if n % 2 == 0 { &a } else { &b };
        let mut teacher = replica.teacher(bearer(token));
        sessions.push((teacher.clone(), start(&mut teacher, &format!("Archived {n}"), 1, &[]).await.attendance_id));
    }
    let tokens = sign_in_all(&[a.clone(), b.clone()], &names("demo_student", 71..=75)).await;
    let mut expected = HashSet::new();
    for (_, id) in &sessions {
        for (n, token) in tokens.iter().enumerate() {
            let replica = if n % 2 == 0 { &b } else { &a };
            let record = attend(&mut replica.student(bearer(token)), id, "", &[]).await.unwrap();
            assert!(record.is_attended);
            expected.insert((id.clone(), record.student_number));
        }
    }
    for (teacher, id) in &sessions {
        finish_and_wait_archived(teacher, std::slice::from_ref(id)).await;
    }
    assert_eq!(archived_check_ins(env).await, expected);
    let archived: i64 =
        sqlx::query_scalar("SELECT count(*) FROM attendances").fetch_one(env.archive.pool()).await.unwrap();
    assert_eq!(archived, 4);
    // Gone from Redis.
    for (_, id) in &sessions {
        let live = env.live.session(id.parse().unwrap()).await.unwrap();
        assert!(live.is_none(), "session {id} is still live after it was archived");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_logout_on_one_replica_refuses_the_token_on_the_other_at_once() {
    let cluster = ClusterEnv::start(ClusterAccess::Shared).await;
    let (a, b) = (cluster.clients_a().await, cluster.clients_b().await);
    let token = a.login("demo_student_81", "password").await.unwrap();
    let who = |clients: attn_e2e::Clients, token: String| async move {
        let me = clients.auth(bearer(&token)).who_am_i(WhoAmIRequest {}).await?.into_inner();
        Ok::<_, tonic::Status>(me.user.map(|u| u.school_number).unwrap_or_default())
    };
    // B reads the sign-in from the cluster and keeps it (for ten minutes here).
    assert_eq!(who(b.clone(), token.clone()).await.unwrap(), "demo_student_81");
    assert_eq!(who(b.clone(), token.clone()).await.unwrap(), "demo_student_81");

    let logged_out = std::time::Instant::now();
    a.auth(bearer(&token)).logout(LogoutRequest {}).await.unwrap();
    let refused =
        eventually(std::time::Duration::from_secs(2), "replica B to refuse the token logged out on A", || {
            let (b, token) = (b.clone(), token.clone());
            async move { who(b, token).await.err() }
        })
        .await;
    println!("replica B refused the token {:?} after the logout on A", logged_out.elapsed());
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert_eq!(who(a.clone(), token.clone()).await.unwrap_err().code(), Code::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_services_refuse_a_cluster_with_any_master_that_evicts_keys() {
    // Changes a master's settings: no other cluster test runs meanwhile.
    let cluster = ClusterEnv::start(ClusterAccess::Exclusive).await;
    let masters = cluster.cluster.masters().await;
    assert_eq!(masters.len(), 3, "{masters:?}");
    for master in &masters {
        cluster.cluster.config_set(master, "maxmemory-policy", "allkeys-lru").await;
        let attendance =
            attendance_service::App::build(cluster.env.attendance_config(), attn_runtime::Shutdown::new()).await;
        let sweeper = sweeper_service::App::build(cluster.env.sweeper_config(), attn_runtime::Shutdown::new()).await;
        cluster.cluster.config_set(master, "maxmemory-policy", "noeviction").await;
        for (service, started) in [("attendance-service", attendance.err()), ("sweeper-service", sweeper.err())] {
            let err =
                format!("{:#}", started.unwrap_or_else(|| panic!("{service} started although {master} evicts keys")));
            assert!(err.contains("maxmemory-policy allkeys-lru") && err.contains(master.as_str()), "{service}: {err}");
        }
    }
    // All noeviction again: they start.
    let shutdown = attn_runtime::Shutdown::new();
    attendance_service::App::build(cluster.env.attendance_config(), shutdown.clone()).await.expect("starts");
    shutdown.trigger();
}
