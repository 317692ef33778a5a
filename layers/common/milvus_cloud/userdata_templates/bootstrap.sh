#!/bin/bash
# milvus-cloud node bootstrap: EC2 user data for Amazon Linux 2023 (x86_64), run once on first boot.
# Rendered by milvus_cloud/userdata.py, which fills the placeholders (values shell-quoted).
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin

CLUSTER_KEY=@@CLUSTER_KEY@@ # <username>/<milvus-name>: labels log lines only
NODE_ROLE=@@NODE_ROLE@@ # standalone | master | worker
MASTER_IP=@@MASTER_IP@@ # the master's private IPv4 (workers only)
DATA_DEVICE=@@DATA_DEVICE@@ # device name the data EBS volume is attached under
GPU=@@GPU@@ # 1 on NVIDIA GPU instance types
COMPOSE_VERSION=@@COMPOSE_VERSION@@
NVIDIA_DRIVER_STREAM=@@NVIDIA_DRIVER_STREAM@@

LOG=/var/log/milvus-cloud-bootstrap.log
DATA_DIR=/var/lib/milvus # the data volume: Docker images, etcd, MinIO and Milvus data
APP_DIR=/opt/milvus-cloud # docker-compose.yml and the .env it reads
IMDS=http://169.254.169.254/latest
STEP=start

exec > >(tee -a "$LOG") 2>&1
# Log lines go to stderr so that $(...) captures only real output.
log() { printf '%s milvus-cloud[%s %s] %s\n' "$(date -u +%FT%TZ)" "$CLUSTER_KEY" "$NODE_ROLE" "$*" >&2; }
step() { STEP=$1; log "==> $1"; }
on_exit() {
	local rc=$?
	if ((rc != 0)); then log "bootstrap FAILED during: $STEP (exit $rc)"; fi
}
trap on_exit EXIT

# retry CMD...: network calls (dnf, downloads, pulls) get 6 tries with backoff (~2.5 min in all).
retry() {
	local attempt=1 delay=5
	until "$@"; do
		if ((attempt >= 6)); then
			log "giving up after $attempt attempts: $*"
			return 1
		fi
		log "attempt $attempt failed, retrying in ${delay}s: $*"
		sleep "$delay"
		attempt=$((attempt + 1)) delay=$((delay * 2))
	done
}

# wait_until TRIES DELAY CMD...: bounded polling for things that appear in their own time.
wait_until() {
	local tries=$1 delay=$2 i
	shift 2
	for ((i = 0; i < tries; i++)); do
		if "$@"; then return 0; fi
		sleep "$delay"
	done
	return 1
}

# IMDSv1 is disabled on these instances: every metadata read first PUTs for an IMDSv2 session token.
imds() {
	local token
	token=$(curl -fsS -m 5 -X PUT "$IMDS/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 300') || return 1
	curl -fsS -m 5 -H "X-aws-ec2-metadata-token: $token" "$IMDS/meta-data/$1"
}

# On Nitro instances an EBS volume attached as /dev/sdf appears as some /dev/nvmeXn1, the number
# depending on discovery order, and "the other NVMe disk" may be instance store (g4dn has one). IMDS
# cannot help: its block-device-mapping lists only launch-time volumes and no volume ids. The EBS
# NVMe controller, however, records the requested name: AL2023's amazon-ec2-utils udev rules read it
# and create the /dev/sdf (or /dev/xvdf) symlink; if that has not happened, ask each EBS controller
# ourselves with ebsnvme-id (same package).
find_data_device() {
	local want=${DATA_DEVICE#/dev/} link dev name
	udevadm settle --timeout=10 || true
	for link in "/dev/$want" "/dev/xvd${want#sd}"; do
		if [[ -b $link ]]; then
			readlink -f "$link"
			return 0
		fi
	done
	for link in /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol*; do
		[[ -e $link && $link != *-part* ]] || continue
		dev=$(readlink -f "$link")
		name=$(ebsnvme-id -b "$dev" 2>/dev/null) || continue
		if [[ ${name#/dev/} == "$want" ]]; then
			echo "$dev"
			return 0
		fi
	done
	return 1
}

prepare_data_volume() {
	local dev fstype uuid
	# The volume may be attached after the instance starts: wait up to 10 minutes.
	wait_until 120 5 find_data_device >/dev/null || {
		log "no block device for $DATA_DEVICE after 10 minutes"
		return 1
	}
	dev=$(find_data_device)
	# Format only a blank device: blkid -p finds any filesystem or partition table (exit 2 = none).
	if ! blkid -p "$dev" >/dev/null 2>&1; then
		log "formatting blank $dev as xfs"
		mkfs.xfs -q "$dev"
	fi
	fstype=$(blkid -p -o value -s TYPE "$dev") || true
	uuid=$(blkid -p -o value -s UUID "$dev") || true
	if [[ -z $fstype || -z $uuid ]]; then
		log "$dev holds no filesystem we can mount (a partition table?): refusing to touch it"
		return 1
	fi
	mkdir -p "$DATA_DIR"
	# By UUID, since nvme numbering can change between boots; nofail so a missing volume cannot
	# block the boot (docker.service then refuses to start, see install_docker).
	grep -q "^UUID=$uuid " /etc/fstab || echo "UUID=$uuid $DATA_DIR $fstype defaults,nofail 0 2" >>/etc/fstab
	systemctl daemon-reload
	mountpoint -q "$DATA_DIR" || mount "$DATA_DIR"
	log "data volume $dev ($fstype) mounted on $DATA_DIR"
}

install_docker() {
	retry dnf install -y docker
	mkdir -p /etc/docker /etc/systemd/system/docker.service.d
	# Images (several GB, more with the GPU image) go to the data volume, not the small root volume.
	cat >/etc/docker/daemon.json <<EOF
{"data-root": "$DATA_DIR/docker", "log-driver": "json-file", "log-opts": {"max-size": "50m", "max-file": "5"}}
EOF
	# After a stop/start nothing may run before the data volume is mounted, restarted containers included.
	printf '[Unit]\nRequiresMountsFor=%s\n' "$DATA_DIR" >/etc/systemd/system/docker.service.d/milvus-data.conf
	systemctl daemon-reload
	systemctl enable --now docker

	# AL2023 packages no compose plugin: take the pinned release binary and check its published sha256.
	local base="https://github.com/docker/compose/releases/download/$COMPOSE_VERSION/docker-compose-linux-x86_64"
	local tmp
	tmp=$(mktemp -d)
	retry curl -fsSL -o "$tmp/docker-compose" "$base"
	retry curl -fsSL -o "$tmp/docker-compose.sha256" "$base.sha256"
	echo "$(cut -d' ' -f1 "$tmp/docker-compose.sha256")  $tmp/docker-compose" | sha256sum -c --quiet -
	install -D -m 0755 "$tmp/docker-compose" /usr/local/lib/docker/cli-plugins/docker-compose
	rm -rf "$tmp"
	docker compose version
}

install_nvidia() {
	if nvidia-smi >/dev/null 2>&1; then
		log "NVIDIA driver already installed"
	else
		# NVIDIA's CUDA repository for AL2023; DKMS builds the open kernel modules for the running kernel,
		# whose build tree comes from kernel-devel or kernel6.12-devel depending on the AMI.
		retry dnf install -y "kernel-devel-uname-r == $(uname -r)"
		retry curl -fsSL -o /etc/yum.repos.d/cuda-amzn2023.repo \
			https://developer.download.nvidia.com/compute/cuda/repos/amzn2023/x86_64/cuda-amzn2023.repo
		retry dnf module enable -y "nvidia-driver:$NVIDIA_DRIVER_STREAM"
		retry dnf install -y nvidia-open
		modprobe nvidia
		nvidia-smi
	fi
	# The container toolkit lets Docker hand the GPU to containers (compose deploy.resources.devices).
	retry curl -fsSL -o /etc/yum.repos.d/nvidia-container-toolkit.repo \
		https://nvidia.github.io/libnvidia-container/stable/rpm/nvidia-container-toolkit.repo
	retry dnf install -y nvidia-container-toolkit
	nvidia-ctk runtime configure --runtime=docker
	systemctl restart docker
}

write_stack() {
	mkdir -p "$APP_DIR"
	# Compose interpolates these into docker-compose.yml; the private IP survives stop/start.
	printf 'HOST_IP=%s\nDATA_DIR=%s\n' "$HOST_IP" "$DATA_DIR" >"$APP_DIR/.env"
	cat >"$APP_DIR/docker-compose.yml" <<'COMPOSE_EOF'
@@COMPOSE_FILE@@
COMPOSE_EOF
	# Starts the stack at every boot; the containers also have restart: always.
	cat >/etc/systemd/system/milvus-cloud.service <<EOF
[Unit]
Description=milvus-cloud Milvus stack ($CLUSTER_KEY, $NODE_ROLE)
Requires=docker.service
Wants=network-online.target
After=docker.service network-online.target
RequiresMountsFor=$DATA_DIR

[Service]
Type=oneshot
RemainAfterExit=yes
WorkingDirectory=$APP_DIR
# Grow the filesystem if the volume was enlarged while the instance was stopped.
ExecStartPre=-/usr/sbin/xfs_growfs $DATA_DIR
ExecStart=/usr/bin/docker compose up -d --remove-orphans
ExecStop=/usr/bin/docker compose stop
TimeoutStartSec=0

[Install]
WantedBy=multi-user.target
EOF
	systemctl daemon-reload
}

master_ready() {
	curl -fsS -m 5 -o /dev/null "http://$MASTER_IP:2379/health" &&
		curl -fsS -m 5 -o /dev/null "http://$MASTER_IP:9000/minio/health/live"
}

# Every Milvus process serves /healthz on its METRICS_PORT; 9091 is the proxy, standalone or querynode.
milvus_healthy() { curl -fsS -m 5 -o /dev/null http://127.0.0.1:9091/healthz; }

main() {
	step "reading this instance's private IP (IMDSv2)"
	HOST_IP=$(retry imds local-ipv4)
	[[ $HOST_IP =~ ^[0-9]+(\.[0-9]+){3}$ ]] || { log "bad local-ipv4 from IMDS: $HOST_IP"; return 1; }

	step "preparing data volume $DATA_DEVICE"
	prepare_data_volume

	step "installing Docker and docker compose $COMPOSE_VERSION"
	install_docker

	if [[ $GPU == 1 ]]; then
		step "installing NVIDIA driver ($NVIDIA_DRIVER_STREAM) and container toolkit"
		install_nvidia
	fi

	step "writing $APP_DIR/docker-compose.yml and milvus-cloud.service"
	write_stack
	cd "$APP_DIR"
	retry docker compose pull --quiet

	if [[ $NODE_ROLE == worker ]]; then
		step "waiting for the master's etcd and MinIO at $MASTER_IP"
		# Not fatal: the containers keep restarting until the master answers.
		wait_until 180 10 master_ready || log "master $MASTER_IP not answering after 30 minutes; starting anyway"
	fi

	step "starting Milvus ($NODE_ROLE)"
	systemctl enable --now milvus-cloud.service

	step "waiting for Milvus /healthz"
	wait_until 240 5 milvus_healthy || {
		docker compose ps || true
		log "Milvus not healthy after 20 minutes"
		return 1
	}
	step "Milvus is up"
}

main "$@"
