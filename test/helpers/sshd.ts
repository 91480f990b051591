/** The OpenSSH server fixture lives with the scripts that share it (sftp-rss). */
export * from '../../scripts/support/sshd.js';
