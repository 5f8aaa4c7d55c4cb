# A Nomad job that runs banger VMs, one VM per allocation, through raw_exec
# (docs/FLEET.md). It parses as HCL2; it has not been run on a Nomad cluster:
# check it with `nomad job validate` and `nomad job plan` before use.
#
#   nomad job run -var kernel=/srv/banger-images/vmlinux \
#                 -var rootfs=/srv/banger-images/web.ext4 contrib/nomad/banger-vm.nomad.hcl
#
# What each node needs:
#   - bangerd running (the Debian package's bangerd.service);
#   - raw_exec enabled in the client config:  plugin "raw_exec" { config { enabled = true } }
#   - node metadata saying so, which the constraint below looks for:
#       client { meta { banger = "1" } }   (or: nomad node meta apply banger=1)
#   - the images at the same paths on every eligible node. The agent opens
#     them as the caller (the Nomad client's user, normally root), unless they
#     lie under [core] image_dirs.
#
# The task is `bangerctl vm run`: it creates the VM if there is none of that
# name, starts it, streams its console to stdout (Nomad's task logs) and exits
# when the VM stops: 0 after Nomad's kill signal stopped it cleanly, 1 when it
# stopped by itself (guest powered off or crashed, VMM died, a drain). The VMM
# is the agent's child, not the task's: it is not in the task's cgroup, so
# Nomad's resources below are bookkeeping for placement, not limits on the VM.

variable "kernel" {
  type        = string
  description = "Guest kernel (vmlinux) on the node"
  default     = "/srv/banger-images/vmlinux"
}

variable "rootfs" {
  type        = string
  description = "Root file system image on the node"
  default     = "/srv/banger-images/rootfs.ext4"
}

variable "vcpus" {
  type    = number
  default = 2
}

variable "memory_mib" {
  type    = number
  default = 512
}

variable "bangerctl" {
  type        = string
  description = "bangerctl on the node (the Debian package puts it in /usr/bin; cmake --install in /usr/local/bin)"
  default     = "/usr/bin/bangerctl"
}

# The job's name is part of each VM's name, and VM names are lowercase
# letters, digits and '-', at most 63 characters: name jobs accordingly.
job "web-vm" {
  datacenters = ["dc1"]
  type        = "service"

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  # Only nodes whose operator said bangerd runs there.
  constraint {
    attribute = "${meta.banger}"
    value     = "1"
  }

  group "vm" {
    count = 2

    # A VM that stops by itself makes the task exit 1: run it again on the
    # same node a few times (`vm run` starts the VM of that name again, or
    # creates it afresh if --rm removed it)...
    restart {
      attempts = 3
      interval = "30m"
      delay    = "15s"
      mode     = "fail"
    }

    # ...then place the allocation elsewhere. A node whose agent is draining
    # refuses starts (503), so its allocations fail here and move.
    reschedule {
      attempts       = 5
      interval       = "2h"
      delay          = "30s"
      delay_function = "exponential"
      max_delay      = "10m"
      unlimited      = false
    }

    task "vm" {
      driver = "raw_exec"

      config {
        command = var.bangerctl
        # The VM's name: job, allocation index and the allocation's short id.
        # A restart of the task stays in its allocation, so it finds the same
        # VM again (and re-attaches, if the VM still runs). A replacement
        # allocation (a new job version, a reschedule) gets a VM of its own,
        # never one the allocation it replaces left behind, with the old spec.
        args = [
          "vm", "run", "${NOMAD_JOB_NAME}-${NOMAD_ALLOC_INDEX}-${NOMAD_SHORT_ALLOC_ID}",
          "--kernel", var.kernel,
          "--rootfs", var.rootfs,
          "--vcpus", "${var.vcpus}",
          "--memory", "${var.memory_mib}",
          "--work-disk", "4G",
          "--rm",
        ]
      }

      # SIGTERM: bangerctl stops the VM cleanly (Ctrl-Alt-Del to the guest,
      # SIGKILL after [core] vmm_stop_timeout, 10s by default), removes it
      # (--rm) and exits 0. kill_timeout must cover that with room to spare;
      # Nomad caps it at the client's max_kill_timeout (30s by default).
      kill_signal  = "SIGTERM"
      kill_timeout = "30s"

      # Placement bookkeeping (see above). CPU is in MHz: vCPUs times what one
      # core of your nodes is worth (attr.cpu.frequency). Memory, in MiB: the
      # guest's plus room for Firecracker itself (a jailed VMM's cgroup allows
      # the guest's memory plus 64 MiB).
      resources {
        cpu    = var.vcpus * 2000
        memory = var.memory_mib + 128
      }

      # The console is the task's stdout; the agent keeps its own copy too
      # (bangerctl vm logs NAME).
      logs {
        max_files     = 5
        max_file_size = 10
      }
    }

    # If bangerctl is SIGKILLed (kill_timeout ran out), the VM keeps running
    # under the agent and --rm never happens. This runs once the main task has
    # stopped and removes what is left; when the VM is already gone, `vm rm`
    # fails and that is fine. It does not run if the node itself is lost.
    task "cleanup" {
      driver = "raw_exec"

      lifecycle {
        hook = "poststop"
      }

      config {
        command = "/bin/sh"
        args = [
          "-c",
          "${var.bangerctl} vm rm --force \"$NOMAD_JOB_NAME-$NOMAD_ALLOC_INDEX-$NOMAD_SHORT_ALLOC_ID\" || true",
        ]
      }

      kill_timeout = "30s"

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
