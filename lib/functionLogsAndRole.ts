import { RemovalPolicy } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/**
 * What each of the stack's functions starts from: its own log group (kept when the stack goes, three months
 * by default) and its own role, which may write to that log group and, until the construct grants more,
 * nothing else. As `Logs` and `Role` under `scope`.
 */
export function functionLogsAndRole(
  scope: Construct,
  options: { roleDescription: string; logRetention?: RetentionDays | undefined },
): { logGroup: LogGroup; role: Role } {
  const logGroup = new LogGroup(scope, 'Logs', {
    retention: options.logRetention ?? RetentionDays.THREE_MONTHS,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const role = new Role(scope, 'Role', {
    assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
    description: options.roleDescription,
  });
  logGroup.grantWrite(role);
  return { logGroup, role };
}
