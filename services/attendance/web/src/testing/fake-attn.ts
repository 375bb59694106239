// An in-memory stand-in for attendance-service, for the app's DOM tests only
// (never bundled). It speaks the generated attn.v1 services through Connect's
// router transport and keeps just enough state to drive the pages.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, createRouterTransport, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import type { TransportFactory } from "../api.js";
import { AuthService } from "../gen/attn/v1/auth_pb.js";
import {
  AttendanceRecordSchema,
  AttendanceSchema,
  AttendanceState,
  FailCode,
  RecordStatus,
  Role,
  SecurityOption,
  UserSchema,
  type Attendance,
  type AttendanceRecord,
  type User,
} from "../gen/attn/v1/common_pb.js";
import { StudentService } from "../gen/attn/v1/student_pb.js";
import {
  AuditAction,
  AuditEventSchema,
  CourseReportOrder,
  TeacherService,
  type AuditEvent,
  type Course,
  type CourseReportRow,
  type StartAttendanceRequest,
  type WatchRecordsResponse,
} from "../gen/attn/v1/teacher_pb.js";
import type { MyCourse } from "../gen/attn/v1/student_pb.js";

type Event = WatchRecordsResponse["event"];

/** An error as ATTN sends it: with a google.rpc.ErrorInfo detail naming the reason. */
export function attnError(message: string, code: Code, reason: string): ConnectError {
  const info = new BinaryWriter().tag(1, 2).string(reason).tag(2, 2).string("attn.v1").finish();
  const e = new ConnectError(message, code);
  e.details.push({ type: "google.rpc.ErrorInfo", value: info });
  return e;
}

/** An async queue a server stream reads from until the call ends. */
class Channel<T> {
  private items: T[] = [];
  private wake: (() => void) | undefined;
  private error: ConnectError | undefined;
  push(item: T) {
    this.items.push(item);
    this.wake?.();
  }
  fail(err: ConnectError) {
    this.error = err;
    this.wake?.();
  }
  async *drain(signal: AbortSignal): AsyncGenerator<T> {
    const onAbort = () => this.wake?.();
    signal.addEventListener("abort", onAbort);
    try {
      for (;;) {
        while (this.items.length) yield this.items.shift()!;
        if (this.error) throw this.error;
        if (signal.aborted) return;
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
}

export class FakeAttn {
  readonly calls: string[] = [];
  readonly authHeaders: string[] = [];
  readonly attendances = new Map<string, Attendance>();
  readonly records = new Map<string, Map<string, AttendanceRecord>>();
  /** What ListCourses answers (every teacher alike), and each course's report rows by student number. */
  courses: Course[] = [];
  readonly reports = new Map<string, CourseReportRow[]>();
  /** What GetMyCourseSummary answers (every student alike). */
  myCourses: MyCourse[] = [];
  /** Who is enrolled in each course (by code): a course session's roster lists them without a check-in. */
  readonly enrolled = new Map<string, string[]>();
  /** Every StartAttendance request, in order. */
  readonly startRequests: StartAttendanceRequest[] = [];
  /** Every ExportCourseReport request's per_session, in order. */
  readonly exports: boolean[] = [];
  /** The teachers' edits, per session, as ListAuditEvents answers them. */
  readonly audit = new Map<string, AuditEvent[]>();
  /** Every Attend request_id, in order. */
  readonly requestIds: string[] = [];
  /** The last selfie each student sent. */
  readonly selfies = new Map<string, Uint8Array>();
  private readonly tokens = new Map<string, User>();
  private readonly rosterWatchers = new Set<{ id: string; ch: Channel<Event> }>();
  private readonly myWatchers = new Set<{ id: string; sn: string; ch: Channel<AttendanceRecord> }>();
  private nextId = 1;
  /** Set to make the next call of that method fail, e.g. fake.failNext.set("attend", new ConnectError(...)). */
  readonly failNext = new Map<string, ConnectError>();
  /** The rotating check-in code every session asking for one shows (changed by rotateCheckInCode). */
  checkInCode = "012345";
  private readonly codeWatchers = new Set<Channel<string>>();

  /** The next window's code: every WatchCheckInCode stream sends it. */
  rotateCheckInCode(code: string) {
    this.checkInCode = code;
    for (const ch of this.codeWatchers) ch.push(code);
  }

  user(username: string): User | undefined {
    const t = /^demo_teacher_(\d+)$/.exec(username);
    const s = /^demo_student_(\d+)$/.exec(username);
    if (t) return create(UserSchema, { schoolNumber: username, fullName: `Teacher ${t[1]}`, role: Role.TEACHER });
    if (s) return create(UserSchema, { schoolNumber: username, fullName: `Student ${s[1]}`, role: Role.STUDENT });
    return undefined;
  }

  /** Signs a user in behind the app's back; returns the token. */
  tokenFor(username: string): string {
    const u = this.user(username);
    if (!u) throw new Error(`no such demo user ${username}`);
    const token = `tok-${username}-${this.nextId++}`;
    this.tokens.set(token, u);
    return token;
  }

  revokeAll() {
    this.tokens.clear();
  }

  /** Drops every open roster stream with `err`, as a proxy restart would. */
  dropRosterStreams(err = new ConnectError("connection reset", Code.Unavailable)) {
    for (const w of this.rosterWatchers) w.ch.fail(err);
    this.rosterWatchers.clear();
  }

  get openRosterStreams(): number {
    return this.rosterWatchers.size;
  }

  private caller(ctx: HandlerContext, role: Role): User {
    this.calls.push(ctx.method.name);
    this.authHeaders.push(ctx.requestHeader.get("authorization") ?? "");
    const planned = this.failNext.get(ctx.method.localName);
    if (planned) {
      this.failNext.delete(ctx.method.localName);
      throw planned;
    }
    const m = /^Bearer (.+)$/.exec(ctx.requestHeader.get("authorization") ?? "");
    const u = m ? this.tokens.get(m[1]!) : undefined;
    if (!u) throw new ConnectError("missing or invalid token", Code.Unauthenticated);
    if (u.role !== role) throw new ConnectError("wrong role", Code.PermissionDenied);
    return u;
  }

  private session(id: string, teacher?: User): Attendance {
    const a = this.attendances.get(id);
    if (!a || (teacher && a.teacherSchoolNumber !== teacher.schoolNumber)) {
      throw new ConnectError("attendance not found", Code.NotFound);
    }
    return a;
  }

  private broadcast(id: string, event: Event) {
    for (const w of this.rosterWatchers) if (w.id === id) w.ch.push(event);
    if (event.case === "record") {
      for (const w of this.myWatchers) if (w.id === id && w.sn === event.value.studentNumber) w.ch.push(event.value);
    }
  }

  /** Changes a record as the server would (a face check finishing, another teacher tab…). */
  private course(code: string): Course {
    const course = this.courses.find((c) => c.courseCode === code);
    if (!course) throw new ConnectError(`you teach no course ${code}`, Code.NotFound);
    return course;
  }

  private reportRows(code: string, order: CourseReportOrder): CourseReportRow[] {
    const rows = [...(this.reports.get(code) ?? [])];
    if (order === CourseReportOrder.PERCENT_ASCENDING) rows.sort((a, b) => (a.percent ?? Infinity) - (b.percent ?? Infinity));
    return rows;
  }

  private audited(id: string, actor: string, action: AuditAction, sn: string, reason: string, before: AttendanceRecord | undefined, after: AttendanceRecord) {
    const events = this.audit.get(id) ?? [];
    events.push(
      create(AuditEventSchema, {
        actor,
        action,
        time: timestampFromMs(Date.now()),
        studentNumber: sn,
        reason,
        change: { case: "record", value: { before, after: { ...after } } },
      }),
    );
    this.audit.set(id, events);
  }

  /**
   * Moves a session's end time to `ms` from now and says so on the roster
   * streams (still OPEN: the page must notice the end time passing itself).
   */
  endSessionIn(id: string, ms: number) {
    const a = create(AttendanceSchema, { ...this.session(id), endTime: timestampFromMs(Date.now() + ms) });
    this.attendances.set(id, a);
    this.broadcast(id, { case: "attendance", value: a });
  }

  /** An enrolled student's line without a record: not checked in while the session is open, absent after. */
  private missingLine(a: Attendance, sn: string): AttendanceRecord {
    const open = a.state === AttendanceState.OPEN && (!a.endTime || timestampMs(a.endTime) > Date.now());
    return create(AttendanceRecordSchema, {
      attendanceId: a.attendanceId,
      studentNumber: sn,
      studentFullName: this.user(sn)?.fullName ?? sn,
      status: open ? RecordStatus.NOT_CHECKED_IN : RecordStatus.ABSENT,
    });
  }

  /** The roster as ListRecords and WatchRecords snapshots give it: the records, then the course's absentees. */
  rosterLines(id: string): AttendanceRecord[] {
    const a = this.session(id);
    const records = this.records.get(id)!;
    const missing = (this.enrolled.get(a.courseCode) ?? []).filter((sn) => a.courseCode && !records.has(sn));
    return [...records.values(), ...missing.map((sn) => this.missingLine(a, sn))];
  }

  setRecord(id: string, sn: string, change: Partial<Pick<AttendanceRecord, "isAttended" | "failReason" | "failCode" | "status" | "excuseReason">>) {
    const a = this.session(id);
    // Like the server, a course session's enrolled student without a record may be edited too.
    const enrolled = !!a.courseCode && (this.enrolled.get(a.courseCode) ?? []).includes(sn);
    const old = this.records.get(id)?.get(sn) ?? (enrolled ? this.missingLine(a, sn) : undefined);
    if (!old) throw new ConnectError(`no record for ${sn}`, Code.NotFound);
    const r = create(AttendanceRecordSchema, { ...old, ...change });
    this.records.get(id)!.set(sn, r);
    this.broadcast(id, { case: "record", value: r });
    return r;
  }

  /**
   * A student checking in from elsewhere (another browser). `wrongCode`: the
   * session asks for the check-in code and this check-in's was missing,
   * wrong or stale; like the server, the record is written as failed
   * (CHECK_IN_CODE_INVALID) and the student may retry.
   */
  attendAs(id: string, username: string, selfie?: Uint8Array, wrongCode = false): AttendanceRecord {
    const u = this.user(username)!;
    const a = this.session(id);
    if (a.state !== AttendanceState.OPEN) throw new ConnectError("the attendance session has ended", Code.FailedPrecondition);
    const roster = this.records.get(id)!;
    const prev = roster.get(u.schoolNumber);
    if (prev && (prev.status === RecordStatus.ATTENDED || prev.status === RecordStatus.PENDING)) {
      throw new ConnectError("you have already checked in to this session", Code.AlreadyExists);
    }
    if (prev?.status === RecordStatus.EXCUSED) {
      throw attnError("your teacher excused you from this session", Code.FailedPrecondition, "EXCUSED");
    }
    if (a.courseCode && !a.allowWalkIns && !(this.enrolled.get(a.courseCode) ?? []).includes(u.schoolNumber)) {
      throw attnError(`not enrolled in ${a.courseCode}`, Code.FailedPrecondition, "NOT_ENROLLED");
    }
    if (wrongCode) {
      const failed = create(AttendanceRecordSchema, {
        attendanceId: id,
        studentNumber: u.schoolNumber,
        studentFullName: u.fullName,
        isAttended: false,
        failReason: "CHECK_IN_CODE_INVALID",
        failCode: FailCode.CHECK_IN_CODE_INVALID,
        status: RecordStatus.FAILED,
      });
      roster.set(u.schoolNumber, failed);
      this.broadcast(id, { case: "record", value: failed });
      return failed;
    }
    const face = a.securityOption === SecurityOption.NETWORK_AND_FACE;
    if (face && !selfie?.length) throw new ConnectError("selfie: is required for security option 3", Code.InvalidArgument);
    if (selfie?.length) this.selfies.set(u.schoolNumber, selfie);
    const r = create(AttendanceRecordSchema, {
      attendanceId: id,
      studentNumber: u.schoolNumber,
      studentFullName: u.fullName,
      isAttended: !face,
      attendanceTime: timestampFromMs(Date.now()),
      failReason: face ? "FACE_RECOGNITION_PENDING" : "",
      status: face ? RecordStatus.PENDING : RecordStatus.ATTENDED,
    });
    roster.set(u.schoolNumber, r);
    this.broadcast(id, { case: "record", value: r });
    return r;
  }

  readonly transport: TransportFactory = (_baseUrl: string, interceptors: Interceptor[]) => {
    const self = this; // for the generator methods below
    return createRouterTransport(
      (router) => {
        router.service(AuthService, {
          login: (req, ctx) => {
            this.calls.push(ctx.method.name);
            const u = this.user(req.username);
            if (!u || req.password !== "password") throw new ConnectError("wrong username or password", Code.Unauthenticated);
            const token = `tok-${req.username}-${this.nextId++}`;
            this.tokens.set(token, u);
            return { accessToken: token, user: u, expiresAt: timestampFromMs(Date.now() + 3600_000) };
          },
          logout: (_req, ctx) => {
            this.calls.push(ctx.method.name);
            const m = /^Bearer (.+)$/.exec(ctx.requestHeader.get("authorization") ?? "");
            if (m) this.tokens.delete(m[1]!);
            return {};
          },
          whoAmI: (_req, ctx) => {
            const m = /^Bearer (.+)$/.exec(ctx.requestHeader.get("authorization") ?? "");
            const u = m ? this.tokens.get(m[1]!) : undefined;
            if (!u) throw new ConnectError("missing or invalid token", Code.Unauthenticated);
            return { user: u };
          },
        });
        router.service(TeacherService, {
          startAttendance: (req, ctx) => {
            const t = this.caller(ctx, Role.TEACHER);
            this.startRequests.push(req);
            const courseCode = req.courseCode.trim().toUpperCase();
            const course = courseCode ? this.course(courseCode) : undefined;
            const lessonName = req.lessonName.trim() || course?.displayName || "";
            if (!lessonName) throw new ConnectError("lesson_name: is required", Code.InvalidArgument);
            for (const a of this.attendances.values()) {
              if (a.state === AttendanceState.OPEN && a.teacherSchoolNumber === t.schoolNumber) {
                throw new ConnectError("you already have an active attendance session", Code.FailedPrecondition);
              }
            }
            const seconds = req.ends.case === "duration" ? Number(req.ends.value.seconds) : 3600;
            const id = `00000000-0000-4000-8000-${String(this.nextId++).padStart(12, "0")}`;
            const a = create(AttendanceSchema, {
              attendanceId: id,
              lessonName,
              teacherSchoolNumber: t.schoolNumber,
              teacherFullName: t.fullName,
              startTime: timestampFromMs(Date.now()),
              endTime: timestampFromMs(Date.now() + seconds * 1000),
              securityOption: req.securityOption || SecurityOption.MANUAL,
              networks: req.networks.length ? req.networks : ["127.0.0.0/24"],
              state: AttendanceState.OPEN,
              recordCount: 0,
              requireCheckInCode: req.requireCheckInCode,
              ...(req.requireCheckInCode ? { checkInCodePeriod: req.checkInCodePeriod ?? { seconds: 15n } } : {}),
              courseCode,
              allowWalkIns: !!course && req.allowWalkIns,
              timeZone: req.timeZone || "UTC",
            });
            this.attendances.set(id, a);
            this.records.set(id, new Map());
            return { attendance: a };
          },
          getLiveAttendance: (_req, ctx) => {
            const t = this.caller(ctx, Role.TEACHER);
            const a = [...this.attendances.values()].find((x) => x.state === AttendanceState.OPEN && x.teacherSchoolNumber === t.schoolNumber);
            return a ? { attendance: a } : {};
          },
          finishAttendance: (req, ctx) => {
            const t = this.caller(ctx, Role.TEACHER);
            const a = create(AttendanceSchema, { ...this.session(req.attendanceId, t), state: AttendanceState.ENDED, endTime: timestampFromMs(Date.now()) });
            this.attendances.set(a.attendanceId, a);
            this.broadcast(a.attendanceId, { case: "attendance", value: a });
            return { attendance: a };
          },
          async *watchRecords(req, ctx) {
            const t = self.caller(ctx, Role.TEACHER);
            const a = self.session(req.attendanceId, t);
            const w = { id: a.attendanceId, ch: new Channel<Event>() };
            self.rosterWatchers.add(w);
            try {
              const records = self.rosterLines(a.attendanceId);
              yield { event: { case: "snapshot" as const, value: { attendance: a, records } } };
              for await (const event of w.ch.drain(ctx.signal)) yield { event };
            } finally {
              self.rosterWatchers.delete(w);
            }
          },
          async *watchCheckInCode(req, ctx) {
            const t = self.caller(ctx, Role.TEACHER);
            const a = self.session(req.attendanceId, t);
            if (!a.requireCheckInCode) throw new ConnectError("this attendance session asks for no check-in code", Code.FailedPrecondition);
            const ch = new Channel<string>();
            self.codeWatchers.add(ch);
            try {
              yield { code: self.checkInCode, validUntil: timestampFromMs(Date.now() + 15_000), qrPayload: "" };
              for await (const code of ch.drain(ctx.signal)) yield { code, validUntil: timestampFromMs(Date.now() + 15_000), qrPayload: "" };
            } finally {
              self.codeWatchers.delete(ch);
            }
          },
          acceptStudent: (req, ctx) => {
            const t = this.caller(ctx, Role.TEACHER);
            this.session(req.attendanceId, t);
            const current = this.records.get(req.attendanceId)?.get(req.studentNumber);
            const before = current && { ...current };
            const record = this.setRecord(req.attendanceId, req.studentNumber, { isAttended: true, failReason: "", failCode: FailCode.UNSPECIFIED, status: RecordStatus.ATTENDED, excuseReason: "" });
            this.audited(req.attendanceId, t.schoolNumber, AuditAction.ACCEPT_STUDENT, req.studentNumber, "", before, record);
            return { record };
          },
          failStudent: (req, ctx) => {
            const t = this.caller(ctx, Role.TEACHER);
            this.session(req.attendanceId, t);
            if (!req.reason.trim()) throw new ConnectError("reason: is required", Code.InvalidArgument);
            const current = this.records.get(req.attendanceId)?.get(req.studentNumber);
            const before = current && { ...current };
            const record = this.setRecord(req.attendanceId, req.studentNumber, { isAttended: false, failReason: req.reason, failCode: FailCode.TEACHER_DECISION, status: RecordStatus.FAILED, excuseReason: "" });
            this.audited(req.attendanceId, t.schoolNumber, AuditAction.FAIL_STUDENT, req.studentNumber, req.reason, before, record);
            return { record };
          },
          excuseStudent: (req, ctx) => {
            const t = this.caller(ctx, Role.TEACHER);
            this.session(req.attendanceId, t);
            if (!req.reason.trim()) throw new ConnectError("reason: is required", Code.InvalidArgument);
            const current = this.records.get(req.attendanceId)?.get(req.studentNumber);
            const before = current && { ...current };
            const record = this.setRecord(req.attendanceId, req.studentNumber, {
              isAttended: false,
              failReason: "",
              failCode: FailCode.UNSPECIFIED,
              status: RecordStatus.EXCUSED,
              excuseReason: req.reason.trim(),
            });
            this.audited(req.attendanceId, t.schoolNumber, AuditAction.EXCUSE_STUDENT, req.studentNumber, req.reason.trim(), before, record);
            return { record };
          },
          listAuditEvents: (req, ctx) => {
            const t = this.caller(ctx, Role.TEACHER);
            this.session(req.attendanceId, t);
            return { events: this.audit.get(req.attendanceId) ?? [] };
          },
          listCourses: (_req, ctx) => {
            this.caller(ctx, Role.TEACHER);
            return { courses: this.courses };
          },
          getCourseReport: (req, ctx) => {
            this.caller(ctx, Role.TEACHER);
            return { course: this.course(req.courseCode), totalSessions: 2, warningPercent: 70, rows: this.reportRows(req.courseCode, req.order) };
          },
          async *exportCourseReport(req, ctx) {
            self.caller(ctx, Role.TEACHER);
            self.course(req.courseCode);
            self.exports.push(req.perSession);
            const lines = req.perSession
              ? ["student_number,attendance_id,local_date,status", ...(self.enrolled.get(req.courseCode) ?? []).map((sn) => `${sn},a1,2026-12-01,absent`)]
              : ["student_number,percent", ...self.reportRows(req.courseCode, req.order).map((r) => `${r.studentNumber},${r.percent ?? ""}`)];
            const bytes = new TextEncoder().encode(lines.join("\r\n") + "\r\n");
            // Two chunks, as a larger file would come.
            yield { csv: bytes.slice(0, 10) };
            yield { csv: bytes.slice(10) };
          },
        });
        router.service(StudentService, {
          getMyCourseSummary: (_req, ctx) => {
            this.caller(ctx, Role.STUDENT);
            return { courses: this.myCourses, warningPercent: 70 };
          },
          findActiveAttendances: (req, ctx) => {
            this.caller(ctx, Role.STUDENT);
            const l = req.lessonName.toLowerCase();
            const t = req.teacherName.toLowerCase();
            return {
              attendances: [...this.attendances.values()].filter(
                (a) => a.state === AttendanceState.OPEN && a.lessonName.toLowerCase().includes(l) && a.teacherFullName.toLowerCase().includes(t),
              ),
            };
          },
          attend: (req, ctx) => {
            const s = this.caller(ctx, Role.STUDENT);
            if (!req.requestId) throw new ConnectError("request_id: is required", Code.InvalidArgument);
            this.requestIds.push(req.requestId);
            const wrongCode = Boolean(this.attendances.get(req.attendanceId)?.requireCheckInCode) && req.checkInCode !== this.checkInCode;
            return { record: this.attendAs(req.attendanceId, s.schoolNumber, req.selfie, wrongCode) };
          },
          getMyRecord: (req, ctx) => {
            const s = this.caller(ctx, Role.STUDENT);
            const r = this.records.get(req.attendanceId)?.get(s.schoolNumber);
            if (!r) throw new ConnectError("no record", Code.NotFound);
            return { record: r };
          },
          async *watchMyRecord(req, ctx) {
            const s = self.caller(ctx, Role.STUDENT);
            const first = self.records.get(req.attendanceId)?.get(s.schoolNumber);
            if (!first) throw new ConnectError("no record", Code.NotFound);
            yield { record: first };
            if (first.status !== RecordStatus.PENDING) return;
            const w = { id: req.attendanceId, sn: s.schoolNumber, ch: new Channel<AttendanceRecord>() };
            self.myWatchers.add(w);
            try {
              for await (const r of w.ch.drain(ctx.signal)) {
                yield { record: r };
                if (r.status !== RecordStatus.PENDING) return;
              }
            } finally {
              self.myWatchers.delete(w);
            }
          },
        });
      },
      { transport: { interceptors } },
    );
  };
}
