"""An independent client of Redress, generated from proto/ with grpcio-tools, as a partner would
write one: it lists the services by reflection, passes the health check and reads the demo
cases. Prints one JSON object on stdout; exits non-zero on any failure.

Usage: demo_client.py ADDRESS TOKEN COMPLAINT_ID REVIEW_ID
"""

import json
import pathlib
import sys
import tempfile

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_tools import protoc


def generate(out: pathlib.Path) -> None:
    """Generates Python code for every .proto under proto/redress."""
    root = pathlib.Path(__file__).resolve().parents[4] / "proto"
    files = [str(p.relative_to(root)) for p in sorted(root.glob("redress/**/*.proto"))]
    include = pathlib.Path(protoc.__file__).parent / "_proto"
    code = protoc.main(
        ["protoc", f"-I{root}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}"]
        + files
    )
    if code != 0:
        raise SystemExit(f"protoc failed with {code}")
    sys.path.insert(0, str(out))


def services(channel: grpc.Channel) -> list:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    for answer in answers:
        return sorted(s.name for s in answer.list_services_response.service)
    return []


def main() -> None:
    address, token, complaint_id, review_id = sys.argv[1:5]
    with tempfile.TemporaryDirectory() as out:
        generate(pathlib.Path(out))
        from redress.complaints.v1 import complaints_pb2, complaints_pb2_grpc
        from redress.learning_reviews.v1 import learning_reviews_pb2, learning_reviews_pb2_grpc

        channel = grpc.insecure_channel(address)
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        metadata = [("authorization", f"Bearer {token}")]
        complaint = complaints_pb2_grpc.ComplaintsStub(channel).GetComplaint(
            complaints_pb2.GetComplaintRequest(complaint_id=complaint_id), metadata=metadata, timeout=5
        ).complaint
        review = learning_reviews_pb2_grpc.LearningReviewsStub(channel).GetLearningReview(
            learning_reviews_pb2.GetLearningReviewRequest(review_id=review_id), metadata=metadata, timeout=5
        ).review
        print(
            json.dumps(
                {
                    "services": services(channel),
                    "health": health_pb2.HealthCheckResponse.ServingStatus.Name(health.status),
                    "complaint": {
                        "complaint_id": complaint.complaint_id,
                        "status": complaints_pb2.ComplaintStatus.Name(complaint.status),
                        "provider_id": complaint.provider_id,
                    },
                    "review": {
                        "review_id": review.review_id,
                        "status": learning_reviews_pb2.ReviewStatus.Name(review.status),
                        "reviewer_ref": review.reviewer_ref,
                    },
                }
            )
        )


if __name__ == "__main__":
    main()
