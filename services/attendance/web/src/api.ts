// The grpc-web clients, generated service descriptors plus one transport.
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { AuthService } from "./gen/attn/v1/auth_pb.js";
import { StudentService } from "./gen/attn/v1/student_pb.js";
import { TeacherService } from "./gen/attn/v1/teacher_pb.js";

export interface Api {
  baseUrl: string;
  auth: Client<typeof AuthService>;
  teacher: Client<typeof TeacherService>;
  student: Client<typeof StudentService>;
}

/** Adds `authorization: Bearer <token>` to every call while signed in. */
export function bearerInterceptor(getToken: () => string | undefined): Interceptor {
  return (next) => async (req) => {
    const token = getToken();
    if (token) req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

/** How the clients reach the server; tests swap in an in-memory transport. */
export type TransportFactory = (baseUrl: string, interceptors: Interceptor[]) => Transport;

export const grpcWebTransport: TransportFactory = (baseUrl, interceptors) =>
  createGrpcWebTransport({ baseUrl, interceptors });

export function createApi(
  baseUrl: string,
  getToken: () => string | undefined,
  makeTransport: TransportFactory = grpcWebTransport,
): Api {
  const transport = makeTransport(baseUrl, [bearerInterceptor(getToken)]);
  return {
    baseUrl,
    auth: createClient(AuthService, transport),
    teacher: createClient(TeacherService, transport),
    student: createClient(StudentService, transport),
  };
}
