import { AssignerProtocol } from 'kafkajs';

import type { KafkaConnection } from '@app/messaging';

export interface GroupMember {
  readonly memberId: string;
  /** The partitions of `topic` assigned to the member. */
  readonly partitions: readonly number[];
}

export interface GroupState {
  readonly state: string;
  readonly members: readonly GroupMember[];
}

/** Who is in a consumer group and which partitions of `topic` each holds, as the broker sees it now. */
export async function describeGroup(kafka: KafkaConnection, groupId: string, topic: string): Promise<GroupState> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([groupId]);
    const group = groups[0];
    return {
      state: group?.state ?? 'Dead',
      members: (group?.members ?? []).map((member) => ({
        memberId: member.memberId,
        partitions:
          member.memberAssignment.length === 0
            ? []
            : (AssignerProtocol.MemberAssignment.decode(member.memberAssignment)?.assignment[topic] ?? []),
      })),
    };
  } finally {
    await admin.disconnect();
  }
}
