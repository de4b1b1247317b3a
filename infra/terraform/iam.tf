# One role per function (its handler's calls on its resources, plus its own logs), the Scheduler roles
# (InvokeFunction on their target) and the workflow roles, all from the stack spec.

resource "aws_iam_role" "this" {
  for_each = local.stack.roles
  name     = each.value.name
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = each.value.service }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "this" {
  for_each = { for k, r in local.stack.roles : k => r if r.policy != null }
  name     = "inline"
  role     = aws_iam_role.this[each.key].id
  policy   = jsonencode(each.value.policy)
}
