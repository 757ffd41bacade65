"""The tag calls of every kind of resource the bot has, as methods of
:class:`~iaf_aws_plugin.deploy.awsclient.AWSClient` (a mixin: the client stays the one place
that talks to AWS). A resource is named by ``(service, ident)``:

===========  =================================  ==============================================
service      ident                              calls
===========  =================================  ==============================================
lambda       function ARN                       ListTags / TagResource / UntagResource
iam          role name                          ListRoleTags / TagRole / UntagRole
s3           bucket name                        GetBucketTagging / PutBucketTagging (whole set)
ecr          repository ARN                     ListTagsForResource / TagResource / UntagResource
logs         log group ARN (no ``:*``)          ListTagsForResource / TagResource / UntagResource
sqs          queue name (URL looked up)         ListQueueTags / TagQueue / UntagQueue
sns          topic ARN                          ListTagsForResource / TagResource / UntagResource
cloudwatch   alarm ARN                          ListTagsForResource / TagResource / UntagResource
ssm          parameter name                     ListTagsForResource / AddTagsToResource / Remove…
===========  =================================  ==============================================

EventBridge Scheduler schedules cannot be tagged (only schedule groups, and the bot's is ``default``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

__all__ = ["TAG_ACTIONS", "TaggingCalls"]

#: The IAM actions of the tag calls, per service (the permission preflight asks for them).
TAG_ACTIONS: dict[str, tuple[str, ...]] = {
    "lambda": ("lambda:ListTags", "lambda:TagResource", "lambda:UntagResource"),
    "iam": ("iam:ListRoleTags", "iam:TagRole", "iam:UntagRole"),
    "s3": ("s3:GetBucketTagging", "s3:PutBucketTagging"),
    "ecr": ("ecr:ListTagsForResource", "ecr:TagResource", "ecr:UntagResource"),
    "logs": ("logs:ListTagsForResource", "logs:TagResource", "logs:UntagResource"),
    "sqs": ("sqs:ListQueueTags", "sqs:TagQueue", "sqs:UntagQueue"),
    "sns": ("sns:ListTagsForResource", "sns:TagResource", "sns:UntagResource"),
    "cloudwatch": ("cloudwatch:ListTagsForResource", "cloudwatch:TagResource", "cloudwatch:UntagResource"),
    "ssm": ("ssm:ListTagsForResource", "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource"),
}


def _pairs(tags: Mapping[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in sorted(tags.items())]


def _mapping(items: Any, key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {str(t[key]): str(t.get(value, "")) for t in items or []}


class TaggingCalls:
    """Read, set and remove tags on any of the bot's resources (see the module's table)."""

    if TYPE_CHECKING:  # pragma: no cover - AWSClient's own methods
        def call(self, service: str, operation: str, *, where: str, missing: Iterable[str] = (),
                 retry_while: Callable[[Exception], bool] | None = None, **params: Any) -> Any: ...

        def pages(self, service: str, operation: str, *, where: str,
                  token: tuple[str, str] = ("NextToken", "NextToken"), missing: Iterable[str] = (),
                  **params: Any) -> Iterator[Any]: ...

        def queue_url(self, name: str) -> str | None: ...

    def resource_tags(self, service: str, ident: str) -> dict[str, str]:
        """Every tag of the resource (the user's, the deploy's and anybody's); {} when it has none."""
        where = f"Reading the tags of {ident}"
        if service == "lambda":
            return {str(k): str(v) for k, v in (self.call("lambda", "ListTags", where=where, Resource=ident)
                                                or {}).get("Tags", {}).items()}
        if service == "iam":
            return {k: v for page in self.pages("iam", "ListRoleTags", where=where, token=("Marker", "Marker"),
                                                RoleName=ident)
                    for k, v in _mapping(page.get("Tags")).items()}
        if service == "s3":
            found = self.call("s3", "GetBucketTagging", where=where, missing=("NoSuchTagSet",), Bucket=ident)
            return _mapping((found or {}).get("TagSet"))
        if service == "ecr":
            return _mapping(self.call("ecr", "ListTagsForResource", where=where, resourceArn=ident).get("tags"))
        if service == "logs":
            found = self.call("logs", "ListTagsForResource", where=where, resourceArn=ident)
            return {str(k): str(v) for k, v in (found.get("tags") or {}).items()}
        if service == "sqs":
            found = self.call("sqs", "ListQueueTags", where=where, QueueUrl=self._queue_url_of(ident))
            return {str(k): str(v) for k, v in (found.get("Tags") or {}).items()}
        if service == "sns":
            return _mapping(self.call("sns", "ListTagsForResource", where=where, ResourceArn=ident).get("Tags"))
        if service == "cloudwatch":
            return _mapping(self.call("cloudwatch", "ListTagsForResource", where=where, ResourceARN=ident).get("Tags"))
        if service == "ssm":
            return _mapping(self.call("ssm", "ListTagsForResource", where=where, ResourceType="Parameter",
                                      ResourceId=ident).get("TagList"))
        raise ValueError(f"no tag calls for {service}")

    def tag_resource(self, service: str, ident: str, tags: Mapping[str, str],
                     keep: Mapping[str, str] | None = None) -> None:
        """Set ``tags`` (added or changed) on the resource. S3 replaces a bucket's whole tag set:
        ``keep`` holds the tags it had that stay (somebody else's included)."""
        where = f"Tagging {ident}"
        tags = dict(tags)
        if service == "lambda":
            self.call("lambda", "TagResource", where=where, Resource=ident, Tags=tags)
        elif service == "iam":
            self.call("iam", "TagRole", where=where, RoleName=ident, Tags=_pairs(tags))
        elif service == "s3":
            self.call("s3", "PutBucketTagging", where=where, Bucket=ident,
                      Tagging={"TagSet": _pairs({**(keep or {}), **tags})})
        elif service == "ecr":
            self.call("ecr", "TagResource", where=where, resourceArn=ident, tags=_pairs(tags))
        elif service == "logs":
            self.call("logs", "TagResource", where=where, resourceArn=ident, tags=tags)
        elif service == "sqs":
            self.call("sqs", "TagQueue", where=where, QueueUrl=self._queue_url_of(ident), Tags=tags)
        elif service == "sns":
            self.call("sns", "TagResource", where=where, ResourceArn=ident, Tags=_pairs(tags))
        elif service == "cloudwatch":
            self.call("cloudwatch", "TagResource", where=where, ResourceARN=ident, Tags=_pairs(tags))
        elif service == "ssm":
            self.call("ssm", "AddTagsToResource", where=where, ResourceType="Parameter", ResourceId=ident,
                      Tags=_pairs(tags))
        else:
            raise ValueError(f"no tag calls for {service}")

    def untag_resource(self, service: str, ident: str, keys: list[str],
                       keep: Mapping[str, str] | None = None) -> None:
        """Remove the tags ``keys`` (S3: write back ``keep``, the tags that stay; none left: delete the set)."""
        where = f"Removing tags {', '.join(keys)} of {ident}"
        if service == "lambda":
            self.call("lambda", "UntagResource", where=where, Resource=ident, TagKeys=keys)
        elif service == "iam":
            self.call("iam", "UntagRole", where=where, RoleName=ident, TagKeys=keys)
        elif service == "s3":
            if keep:
                self.call("s3", "PutBucketTagging", where=where, Bucket=ident, Tagging={"TagSet": _pairs(keep)})
            else:
                self.call("s3", "DeleteBucketTagging", where=where, Bucket=ident)
        elif service == "ecr":
            self.call("ecr", "UntagResource", where=where, resourceArn=ident, tagKeys=keys)
        elif service == "logs":
            self.call("logs", "UntagResource", where=where, resourceArn=ident, tagKeys=keys)
        elif service == "sqs":
            self.call("sqs", "UntagQueue", where=where, QueueUrl=self._queue_url_of(ident), TagKeys=keys)
        elif service == "sns":
            self.call("sns", "UntagResource", where=where, ResourceArn=ident, TagKeys=keys)
        elif service == "cloudwatch":
            self.call("cloudwatch", "UntagResource", where=where, ResourceARN=ident, TagKeys=keys)
        elif service == "ssm":
            self.call("ssm", "RemoveTagsFromResource", where=where, ResourceType="Parameter", ResourceId=ident,
                      TagKeys=keys)
        else:
            raise ValueError(f"no tag calls for {service}")

    def _queue_url_of(self, name: str) -> str:
        from ..errors import PluginError

        url = self.queue_url(name)
        if url is None:
            raise PluginError(f"SQS queue {name} does not exist.", fix="Run the deploy again.")
        return url
